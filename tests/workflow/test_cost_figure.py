"""The poll loop's cost stays low for long jobs, measured on the local cloud.

With the template's defaults (first wait 15 s, each next wait 1.5x, at most 300 s) a 60-minute job costs a few
dozen state transitions instead of the ~720 a fixed 15-second poll would, and a 2-minute job is still seen within
seconds of its end (by the schedule). Wall-clock figures are machine-dependent, so only counts are asserted; the
full figure (with the measured notice delay) is printed by ``python -m kbsync_localcloud.bench.cost``.
"""

from __future__ import annotations

from kbsync_localcloud.bench.cost import default_parameters, measure_poll_cost, poll_schedule


def test_poll_cost_of_a_2_minute_and_a_60_minute_job() -> None:
    short, long = measure_poll_cost((120.0, 3600.0), time_scale=0.002)
    parameters = default_parameters()
    first, maximum = int(parameters["PollIntervalSeconds"]), int(parameters["MaxPollIntervalSeconds"])
    for cost in (short, long):
        assert cost.status == "SUCCEEDED"
        scheduled_polls, scheduled_delay = poll_schedule(cost.jobSeconds, first, maximum)
        # Machine overhead only delays polls (never adds any): at most the scheduled number of polls.
        assert 1 <= cost.polls <= scheduled_polls, cost
        assert cost.scheduleDelaySeconds == scheduled_delay <= maximum
        # 15 fixed states (among them RecordJobStarting before the start, FindCoveringJob + IsCovered,
        # StampStartAttempt, RecordJobId and ChooseCompletion after it) + Wait/Get/Choice per poll
        assert cost.stateTransitions == 15 + 3 * cost.polls, cost
    assert short.scheduleDelaySeconds <= 30
    assert long.stateTransitions < 720 / 10  # a fixed 15 s poll of a 60-minute job: 240 polls x 3 states
    assert long.historyEvents < 25_000 / 100
