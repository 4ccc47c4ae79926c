"""kbsync_localcloud/bench/triggers.py: the quota's lower bound and the fan-out policy's zero-overhead makespan."""

from __future__ import annotations

import random

from kbsync_localcloud.bench.triggers import lower_bound, scheduled_makespan


def test_lower_bound_is_the_largest_of_the_three_quota_limits() -> None:
    assert lower_bound([100.0] * 10) == 200.0  # total job time / 5 concurrent jobs
    assert lower_bound([1.0] * 10) == 100.0  # 10 starts x 10 s (0.1 StartIngestionJob/s)
    assert lower_bound([1000.0, 1.0, 1.0]) == 1000.0  # the longest job


def test_longest_first_keeps_five_lanes_busy() -> None:
    # 5 lanes, spacing 10 s: the 600 s job starts first and ends last; the short ones fill the other lanes.
    durations = [600.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    assert scheduled_makespan(durations) == 600.0
    assert scheduled_makespan(durations) == lower_bound(durations)


def test_the_policy_stays_within_ten_percent_of_the_bound_for_varied_nights() -> None:
    for count in (50, 200):
        rng = random.Random(count)
        durations = [float(rng.uniform(300, 1800)) for _ in range(count)]
        assert lower_bound(durations) <= scheduled_makespan(durations) <= 1.10 * lower_bound(durations)
