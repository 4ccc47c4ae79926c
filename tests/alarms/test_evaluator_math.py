"""The local alarm evaluator's math (adapters/alarm_evaluator.py): statistics, the threshold boundary, M out of N,
missing data as TreatMissingData says, and the periods a datapoint falls in. No network, no threads."""

from __future__ import annotations

import pytest
from kbsync_localcloud.adapters.alarm_evaluator import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Rule,
    evaluate,
    periods_of,
    statistic,
)


def rule(**changes: object) -> Rule:
    base: dict[str, object] = {
        "period": 300.0,
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "statistic": "Sum",
        "comparison": "GreaterThanThreshold",
        "threshold": 0.0,
        "treat_missing_data": "notBreaching",
    }
    return Rule(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Sum", 6.0), ("SampleCount", 3.0), ("Average", 2.0), ("Minimum", 1.0), ("Maximum", 3.0)],
)
def test_statistics(name: str, expected: float) -> None:
    assert statistic([1.0, 2.0, 3.0], name) == expected


def test_a_percentile_is_not_emulated() -> None:
    with pytest.raises(ValueError, match="p99"):
        statistic([1.0], "p99")


@pytest.mark.parametrize(
    ("comparison", "value", "state"),
    [
        ("GreaterThanThreshold", 5.0, OK),  # the boundary itself does not breach ">"
        ("GreaterThanThreshold", 5.5, ALARM),
        ("GreaterThanOrEqualToThreshold", 5.0, ALARM),
        ("GreaterThanOrEqualToThreshold", 4.9, OK),
        ("LessThanThreshold", 5.0, OK),
        ("LessThanThreshold", 4.9, ALARM),
        ("LessThanOrEqualToThreshold", 5.0, ALARM),
    ],
)
def test_the_threshold_boundary(comparison: str, value: float, state: str) -> None:
    assert evaluate(rule(comparison=comparison, threshold=5.0), [[value]], OK).state == state


def test_greater_than_zero_alarms_on_one_failed_job() -> None:
    assert evaluate(rule(), [[1.0]], OK).state == ALARM
    assert evaluate(rule(), [[0.0]], ALARM).state == OK


def test_datapoints_to_alarm_is_m_out_of_n() -> None:
    two_of_three = rule(evaluation_periods=3, datapoints_to_alarm=2)
    assert evaluate(two_of_three, [[1.0], [0.0], [0.0]], OK).state == OK
    assert evaluate(two_of_three, [[1.0], [0.0], [2.0]], OK).state == ALARM
    all_three = rule(evaluation_periods=3, datapoints_to_alarm=3)
    assert evaluate(all_three, [[1.0], [1.0], [0.0]], OK).state == OK
    assert evaluate(all_three, [[1.0], [1.0], [1.0]], OK).state == ALARM


def test_only_the_last_evaluation_periods_count() -> None:
    assert evaluate(rule(evaluation_periods=2), [[9.0], [0.0], [0.0]], ALARM).state == OK


@pytest.mark.parametrize(
    ("treat", "current", "state"),
    [
        ("notBreaching", ALARM, OK),
        ("breaching", OK, ALARM),
        ("ignore", ALARM, ALARM),  # no data: the state is kept
        ("ignore", OK, OK),
        ("missing", OK, INSUFFICIENT_DATA),
        ("missing", ALARM, INSUFFICIENT_DATA),
    ],
)
def test_no_data_at_all_is_what_treat_missing_data_says(treat: str, current: str, state: str) -> None:
    assert evaluate(rule(evaluation_periods=2, treat_missing_data=treat), [[], []], current).state == state


def test_some_missing_periods() -> None:
    # notBreaching: a missing period is good, so one breach of two needed is not enough
    assert evaluate(rule(evaluation_periods=2, datapoints_to_alarm=2), [[], [3.0]], OK).state == OK
    # breaching: a missing period is bad
    both = rule(evaluation_periods=2, datapoints_to_alarm=2, treat_missing_data="breaching")
    assert evaluate(both, [[], [3.0]], OK).state == ALARM
    # missing: evaluated on the datapoints there are
    missing = rule(evaluation_periods=2, datapoints_to_alarm=1, treat_missing_data="missing")
    assert evaluate(missing, [[], [3.0]], OK).state == ALARM
    assert evaluate(missing, [[], [0.0]], ALARM).state == OK


def test_the_reason_names_the_datapoints() -> None:
    verdict = evaluate(rule(evaluation_periods=2, statistic="Maximum"), [[1.0, 4.0], []], OK)
    assert verdict.values == (4.0, None)
    assert "[4, missing]" in verdict.reason and "GreaterThanThreshold 0" in verdict.reason


def test_datapoints_fall_in_the_periods_ending_now() -> None:
    two = rule(evaluation_periods=2, period=100.0)
    now = 1000.0
    points = [(799.0, 1.0), (800.0, 2.0), (899.9, 3.0), (900.0, 4.0), (999.9, 5.0), (1000.0, 6.0)]
    assert periods_of(points, now, two) == [[2.0, 3.0], [4.0, 5.0]]  # [800, 900) and [900, 1000); 799 and 1000 out
