"""One scaled clock for everything time-based in the local cloud.

`scale` is how many real seconds one virtual second lasts (0.01 = 100x faster). Wait states, retry
intervals and the Bedrock emulator's job progress all read this clock, so a 60-minute job and the
workflow polling it keep their real proportions while the test runs in well under a minute.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class ScaledClock:
    def __init__(self, scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._scale = 1.0
        self._real_origin = time.monotonic()
        self._virtual_origin = time.time()
        self.set_scale(scale)

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        """Change the scale without making virtual time jump."""
        if not scale > 0:
            raise ValueError(f"time scale must be > 0, got {scale!r}")
        with self._lock:
            now_virtual = self._now_unlocked()
            self._real_origin = time.monotonic()
            self._virtual_origin = now_virtual
            self._scale = float(scale)

    def _now_unlocked(self) -> float:
        return self._virtual_origin + (time.monotonic() - self._real_origin) / self._scale

    def now(self) -> float:
        """Virtual epoch seconds."""
        with self._lock:
            return self._now_unlocked()

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def to_real(self, virtual_seconds: float) -> float:
        return max(0.0, float(virtual_seconds)) * self._scale

    def sleep(self, virtual_seconds: float) -> None:
        real = self.to_real(virtual_seconds)
        if real > 0:
            time.sleep(real)

    def wait(self, event: threading.Event, virtual_seconds: float) -> bool:
        """Wait on `event` for up to `virtual_seconds` of virtual time; True if it was set."""
        return event.wait(self.to_real(virtual_seconds))


#: The process-wide clock shared by every adapter and the emulator.
CLOCK = ScaledClock()
