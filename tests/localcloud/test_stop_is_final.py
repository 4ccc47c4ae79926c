"""StopExecution makes an execution ABORTED for good, even when the state it interrupted fails afterwards.

On moto 5.2.5 a state still running when StopExecution arrives can fail afterwards, and moto's set_error overwrote
the stopped program state, so DescribeExecution said FAILED for an aborted execution (seen as a flaky reliability
test). The stop_is_final adapter keeps a stopped program stopped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.adapters import stop_is_final
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import create_state_machine, wait_for_end


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.01) as local:
        yield local


def _moto_execution(execution_arn: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    return next(e for e in backend._get_executions() if e.execution_arn == execution_arn)


def test_a_state_failing_after_stop_execution_leaves_the_execution_aborted(cloud: LocalCloud) -> None:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    sfn = cloud.client("stepfunctions")
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    execution = sfn.start_execution(
        stateMachineArn=create_state_machine(sfn, definition), name=f"ex-{uuid.uuid4().hex[:8]}", input="{}"
    )["executionArn"]
    deadline = time.monotonic() + 10
    while not any(e["type"] == "WaitStateEntered" for e in sfn.get_execution_history(executionArn=execution)["events"]):
        assert time.monotonic() < deadline, "the Wait state never started"
        time.sleep(0.01)
    sfn.stop_execution(executionArn=execution, error="Operator", cause="aborted by the test")
    assert wait_for_end(sfn, execution, deadline_s=10)["status"] == "ABORTED"

    # What a state still running when the stop arrived does next (a Lambda task whose call then fails): set_error.
    env = _moto_execution(execution).exec_worker.env
    env.set_error(ExecutionFailedEventDetails(error="States.Runtime", cause="late failure of an interrupted state"))
    env.set_timed_out()
    assert isinstance(env.program_state(), ProgramStopped)
    _moto_execution(execution).exec_worker._execution_communication.terminated()  # moto re-reads the state at the end
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_pinned_moto_internals_are_the_ones_the_adapter_patches() -> None:
    stop_is_final.verify_moto_internals()


def test_an_execution_is_running_before_its_worker_begins() -> None:
    """moto lists an execution before Execution.start sets its status: it must read RUNNING, not raise."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    stop_is_final.install()
    created = Execution.__new__(Execution)
    created.exec_status = None  # as Execution.__init__ leaves it until start()
    assert created.status == "RUNNING"
    created.exec_status = ExecutionStatus.SUCCEEDED
    assert created.status == "SUCCEEDED"
