"""One clock for everything time-based in the local cloud: scaled time changes durations, not dates.

`scale` is how many real seconds one virtual second lasts (0.01 = 100x faster). The clock has two readings:

- ``now()``: **virtual seconds**, what durations are measured in. Wait states, retry intervals, timeouts, Bedrock's
  quotas and the emulator's job progress all read it, so a 60-minute job and the workflow polling it keep their real
  proportions while a test runs in well under a minute. It runs 1/scale times faster than the wall clock, so it is
  *not* a date (after a minute at scale 0.001 it is 16 hours ahead): never show it to a user.
- ``wall(v)`` / ``wall_now()`` / ``utcnow()``: **dates**, on the host's wall clock, the one Step Functions' history,
  DynamoDB records written from ``$$.State.EnteredTime``, the CLI and the alerts use. ``wall(v)`` is the real moment
  at which virtual instant ``v`` happened (or will happen), so the emulator's ``startedAt <= updatedAt`` keep their
  order and stay on the same clock as everything else; their difference is the scaled (shorter) duration.

``virtual(w)`` maps a date back to virtual time (for tests and benchmarks that measure virtual durations between a
date and a virtual instant). The mapping is exact across ``set_scale`` calls: each scale change starts a segment.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, Self

#: Segments kept for mapping past instants (a scale change each; tests change scale a few times each).
MAX_SEGMENTS = 10_000


class ScaledClock:
    def __init__(self, scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        # The wall clock, read through the monotonic clock (immune to the host's clock being stepped mid-run).
        self._wall_origin = time.time()
        self._monotonic_origin = time.monotonic()
        # Segment i: from virtual instant _virtual_starts[i] (= wall moment _wall_starts[i]) at _scales[i].
        self._virtual_starts: list[float] = [self._wall_origin]
        self._wall_starts: list[float] = [self._wall_origin]
        self._scales: list[float] = [1.0]
        self.set_scale(scale)

    @property
    def scale(self) -> float:
        return self._scales[-1]

    def set_scale(self, scale: float) -> None:
        """Change the scale without making virtual time jump (nor, of course, the wall clock)."""
        if not scale > 0:
            raise ValueError(f"time scale must be > 0, got {scale!r}")
        with self._lock:
            wall = self._wall_now_unlocked()
            virtual = self._virtual_at_unlocked(wall)
            self._virtual_starts.append(virtual)
            self._wall_starts.append(wall)
            self._scales.append(float(scale))
            if len(self._scales) > MAX_SEGMENTS:
                del self._virtual_starts[0], self._wall_starts[0], self._scales[0]

    def _wall_now_unlocked(self) -> float:
        return self._wall_origin + (time.monotonic() - self._monotonic_origin)

    def _virtual_at_unlocked(self, wall: float) -> float:
        index = max(0, bisect.bisect_right(self._wall_starts, wall) - 1)
        return self._virtual_starts[index] + (wall - self._wall_starts[index]) / self._scales[index]

    def now(self) -> float:
        """Virtual seconds: for durations and deadlines only, never shown as a date."""
        with self._lock:
            return self._virtual_at_unlocked(self._wall_now_unlocked())

    def wall_now(self) -> float:
        """Epoch seconds on the wall clock: the date now."""
        with self._lock:
            return self._wall_now_unlocked()

    def utcnow(self) -> datetime:
        """The date now (UTC), on the wall clock."""
        return datetime.fromtimestamp(self.wall_now(), tz=UTC)

    def wall(self, virtual: float) -> float:
        """The wall-clock epoch seconds at which virtual instant `virtual` happened (or will happen)."""
        with self._lock:
            index = max(0, bisect.bisect_right(self._virtual_starts, virtual) - 1)
            return self._wall_starts[index] + (virtual - self._virtual_starts[index]) * self._scales[index]

    def virtual(self, wall: float) -> float:
        """The virtual instant of wall-clock epoch seconds `wall` (the inverse of ``wall``)."""
        with self._lock:
            return self._virtual_at_unlocked(wall)

    def to_real(self, virtual_seconds: float) -> float:
        return max(0.0, float(virtual_seconds)) * self.scale

    def sleep(self, virtual_seconds: float) -> None:
        real = self.to_real(virtual_seconds)
        if real > 0:
            time.sleep(real)

    def wait(self, event: threading.Event, virtual_seconds: float) -> bool:
        """Wait on `event` for up to `virtual_seconds` of virtual time; True if it was set."""
        return event.wait(self.to_real(virtual_seconds))


#: The process-wide clock shared by every adapter and the emulator.
CLOCK = ScaledClock()


class Ticker:
    """Calls ``tick()`` every ``tick_virtual_seconds`` of virtual time on a daemon thread, from ``start()`` until
    ``stop()``: what AWS does on its own schedule (evaluating alarms, firing schedules), done on the scaled clock.
    A tick that raises is logged and the next one runs: a ticker never takes the local cloud down."""

    thread_name = "kbsync-ticker"
    tick_virtual_seconds = 5.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Any:
        raise NotImplementedError

    def _run(self) -> None:
        while not CLOCK.wait(self._stop, self.tick_virtual_seconds):
            try:
                self.tick()
            except Exception:  # the next tick tries again
                logging.getLogger(type(self).__module__).exception("%s: tick failed", self.thread_name)

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
