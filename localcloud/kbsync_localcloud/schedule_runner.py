"""Fire EventBridge Scheduler ``rate(...)`` schedules on the scaled clock, as Scheduler does on AWS.

moto stores schedules but never fires them (scheduler.py fires one on demand). The job watch's sweep
(JobWatchSchedule, ``rate(1 minute)``, docs/push-completion.md) must run by itself for push completion to be
tested as it works on AWS: a sync whose terminal log event is lost is woken by the next sweep, and a sweep that
stops lets the wait's heartbeat lapse. So ``ScheduleRunner`` fires, on a daemon thread, every ENABLED schedule whose
name starts with one of its prefixes and whose expression is ``rate(value unit)``, once per period of virtual time,
the first time one period after the runner first saw it (Scheduler: "rate-based schedules start at the schedule's
creation", https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#rate-based). ``cron(...)``
and ``at(...)`` schedules (the nightly run) stay fired on demand only: firing them by themselves would start nights
in the middle of unrelated tests.

A DISABLED schedule is not fired and its period restarts when it is enabled again. A failing target is logged and
fired again at its next period: the runner never takes the local cloud down.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from kbsync_localcloud.clock import CLOCK, Ticker
from kbsync_localcloud.scheduler import ACCOUNT_ID, REGION, fire_schedule

LOG = logging.getLogger(__name__)
#: Schedule names fired by default: the job watch (template.yaml JobWatchSchedule, "kbsync-job-watch-<id>").
DEFAULT_PREFIXES: tuple[str, ...] = ("kbsync-job-watch-",)
#: How often the runner looks at the schedules, in virtual seconds (a rate's smallest unit is a minute).
TICK_VIRTUAL_SECONDS = 5.0
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """The period of a ``rate(value unit)`` expression in seconds; None for any other expression."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


class ScheduleRunner(Ticker):
    """Fires the matching rate schedules of one account and region when due, on a daemon thread."""

    thread_name = "kbsync-schedule-runner"
    tick_virtual_seconds = TICK_VIRTUAL_SECONDS

    def __init__(
        self, prefixes: Iterable[str] = DEFAULT_PREFIXES, account_id: str = ACCOUNT_ID, region: str = REGION
    ) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)
        self.account_id, self.region = account_id, region
        self._next_due: dict[tuple[str, str], float] = {}
        self.fired: list[tuple[str, float]] = []  # (schedule name, virtual time): what tests read

    def _schedules(self) -> list[Any]:
        from moto.scheduler.models import scheduler_backends

        backend = scheduler_backends[self.account_id][self.region]
        return [s for group in list(backend.schedule_groups.values()) for s in list(group.schedules.values())]

    def tick(self) -> list[str]:
        """Fire what is due now; the names fired."""
        now, fired, seen = CLOCK.now(), [], set()
        for schedule in self._schedules():
            key = (schedule.group_name, schedule.name)
            period = rate_seconds(str(schedule.schedule_expression))
            if period is None or not schedule.name.startswith(self.prefixes):
                continue
            seen.add(key)
            if schedule.state != "ENABLED":
                self._next_due.pop(key, None)
                continue
            due = self._next_due.setdefault(key, now + period)
            if now < due:
                continue
            self._next_due[key] = now + period
            try:
                fire_schedule(schedule.name, schedule.group_name, account_id=self.account_id, region=self.region)
            except Exception:  # the next period tries again, as Scheduler's next invocation would
                LOG.exception("firing schedule %s failed", schedule.name)
                continue
            fired.append(schedule.name)
            self.fired.append((schedule.name, now))
        for gone in set(self._next_due) - seen:
            del self._next_due[gone]
        return fired
