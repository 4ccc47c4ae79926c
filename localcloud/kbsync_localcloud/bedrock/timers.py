"""Callbacks due at virtual instants, run in order on one daemon thread.

The emulator computes a job's status lazily, when it is read: nothing happens at a job's end unless someone calls
GetIngestionJob. The knowledge base's application logs are the opposite (Bedrock *pushes* an event when the job
ends), so the emulator needs a clock that fires: this one. It waits on the scaled clock (``CLOCK``) and re-reads it
at least every ``MAX_REAL_WAIT_S`` real seconds, so a scale change while something is due is honoured.

One thread for the whole process (decorator and server mode alike); callbacks must be short and must not block:
the log writer only appends to moto's CloudWatch Logs, and subscription deliveries run on their own thread
(adapters/log_subscriptions.py).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from kbsync_localcloud.clock import CLOCK

LOG = logging.getLogger(__name__)

#: The longest real wait between two readings of the clock (a scale change is noticed within it).
MAX_REAL_WAIT_S = 0.2


class VirtualTimers:
    """A heap of (virtual instant, order, callback) served by a lazily started daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = 0  # callbacks being run (for idle())

    def at(self, due: float, callback: Callable[[], None]) -> None:
        """Run `callback` once the virtual clock reaches `due` (at once if it already has)."""
        with self._changed:
            heapq.heappush(self._heap, (float(due), next(self._order), callback))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="kbsync-virtual-timers", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def pending(self) -> int:
        with self._changed:
            return len(self._heap) + self._running

    def _next_due(self) -> Callable[[], None]:
        with self._changed:
            while True:
                if not self._heap:
                    self._changed.wait()
                    continue
                remaining = self._heap[0][0] - CLOCK.now()
                if remaining <= 0:
                    self._running += 1
                    return heapq.heappop(self._heap)[2]
                self._changed.wait(min(MAX_REAL_WAIT_S, CLOCK.to_real(remaining)))

    def _serve(self) -> None:
        while True:
            callback = self._next_due()
            try:
                callback()
            except Exception:  # a timer's failure must not stop the others
                LOG.exception("virtual timer callback failed")
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()


#: The process-wide timers of the Bedrock emulator.
TIMERS = VirtualTimers()
