"""The in-process local cloud: moto's mock with kbsync's adapters, for pytest and scripts.

    with LocalCloud(time_scale=0.01) as cloud:
        sfn = cloud.client("stepfunctions")

Server mode (``kbsync local up``) uses the same adapters behind moto's HTTP server (see server.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws

from kbsync_localcloud.adapters import install_all
from kbsync_localcloud.adapters.alarm_evaluator import AlarmEvaluator, evaluation_enabled
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.schedule_runner import DEFAULT_PREFIXES, ScheduleRunner

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "core": {"passthrough": {"urls": [], "services": []}, "reset_boto3_session": True},
}

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


class _DropFailureEvents(logging.Filter):
    """moto's ASL interpreter (LocalStack's) logs every ``FailureEventException`` at ERROR: a Fail state, a task error
    that a Retry/Catch handles, a child execution that failed. They are the workflow's normal control flow, recorded
    in the execution history as on AWS; on stderr they read like crashes. It also logs ``NoSuchJsonPathError`` when a
    Choice rule's ``IsPresent`` looks at a path that is absent (the rule's normal ``false``); a path that is missing
    where one is required becomes a ``States.Runtime`` failure event, recorded in the history like any other.
    Other interpreter errors stay visible."""

    _CONTROL_FLOW = ("Exception=FailureEventException", "Exception=NoSuchJsonPathError")

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and str(args[0]).startswith(self._CONTROL_FLOW))


#: Loggers of the local cloud's machinery whose lines are noise for its user, and the level they keep.
QUIET_LOGGERS: dict[str, int] = {
    # aws-sam-translator warns "There are unpublished metrics" when its metrics object is collected after a transform
    "samtranslator.metrics.metrics": logging.ERROR,
}
ASL_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


def configure_logging() -> None:
    """The local cloud's logging, for LocalCloud and `kbsync local up` alike (idempotent). Handler warnings go to
    the function's own log (inprocess_lambda.py); AWS-side failures are in execution histories and DLQs."""
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    asl = logging.getLogger(ASL_LOGGER)
    if not any(isinstance(existing, _DropFailureEvents) for existing in asl.filters):
        asl.addFilter(_DropFailureEvents())


class LocalCloud:
    """moto's embedded AWS plus kbsync's adapters, in this process."""

    def __init__(
        self,
        time_scale: float = 0.01,
        region: str = REGION,
        evaluate_alarms: bool | None = None,
        run_schedules: Iterable[str] = DEFAULT_PREFIXES,
    ) -> None:
        """`evaluate_alarms`: run the CloudWatch alarm evaluator (adapters/alarm_evaluator.py); default on, unless
        KBSYNC_LOCAL_ALARMS=off. `run_schedules`: the name prefixes of the rate schedules fired by themselves on the
        scaled clock (schedule_runner.py; default the job watch's sweep; () for none)."""
        self.time_scale = time_scale
        self.evaluate_alarms = evaluation_enabled(evaluate_alarms)
        self.run_schedules = tuple(run_schedules)
        self.region = region
        self._mock: Any = None
        self._alarms: AlarmEvaluator | None = None
        self.schedules: ScheduleRunner | None = None
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> LocalCloud:
        for key, value in _FAKE_CREDENTIALS.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._saved_env["AWS_ENDPOINT_URL"] = os.environ.pop("AWS_ENDPOINT_URL", None)
        CLOCK.set_scale(self.time_scale)
        configure_logging()
        install_all()
        self._mock = mock_aws(config=MOTO_CONFIG)  # type: ignore[call-overload]
        self._mock.start()
        if self.evaluate_alarms:  # moto stores alarms, this evaluates them
            self._alarms = AlarmEvaluator(ACCOUNT_ID, self.region).start()
        if self.run_schedules:  # moto stores schedules, this fires the rate schedules named so when due
            self.schedules = ScheduleRunner(self.run_schedules, ACCOUNT_ID, self.region).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._alarms is not None:
            self._alarms.stop()
            self._alarms = None
        if self.schedules is not None:
            self.schedules.stop()
            self.schedules = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def client(self, service: str) -> Any:
        session: Any = boto3
        return session.client(service, region_name=self.region)
