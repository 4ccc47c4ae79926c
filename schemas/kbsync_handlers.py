"""What every function's handler does the same way, written once: its Powertools parts, typed settings read from
the environment, the clients a container keeps, a step checked against its contract, and a step run and logged.

- **Powertools.** ``powertools()`` makes a handler's ``logger, tracer, metrics``, service and namespace from the
  environment (template Globals ``POWERTOOLS_*``); the handler keeps their decorators.
- **Settings.** A function's ``Settings`` subclasses ``Settings`` (a frozen dataclass) with fields only, each naming
  its environment variable (``field(default=10, metadata=env("START_SPACING_SECONDS"))``); ``Settings.from_env``
  (``read_settings``) builds it once, at cold start, converting each value to its field's type (int, float, str) and
  naming the variable in the error when it cannot. The default of a field is the one README.md's configuration
  tables list (tests/static/test_configuration_table.py reads the fields).
- **Clients.** ``Clients`` keeps one boto3 client or DynamoDB table resource per container, created at first use,
  the tables named by the function's settings as they are when first asked for.
- **Steps.** ``checked`` refuses a step that breaks its contract (kbsync_contracts) with ``InvalidRequest`` naming
  every bad field, before anything is read or written; ``run_logged`` runs a step and logs it (rejected or done) on
  the function's Powertools logger (``run_step_logged``: a state machine's step, at the time it runs).

Imports only the standard library, kbsync_contracts and kbsync_values (boto3 when a client is first
asked for, Powertools when a function makes its parts): it ships in the Contracts layer (``schemas/``), and the CLI's
package holds it too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Self, dataclass_transform

import kbsync_contracts
import kbsync_values

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

#: The metadata key naming a settings field's environment variable.
ENV_KEY = "env"


def env(name: str) -> dict[str, str]:
    """A settings field's metadata: the environment variable it is read from."""
    return {ENV_KEY: name}


def read_settings[T](cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """`cls` (a dataclass) from `environ` (default: the process environment as it is now: call it at cold start).
    A variable that is absent keeps the field's default; one that does not convert is a ValueError naming it."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = spec.metadata.get(ENV_KEY)
        if name is None or name not in environ:
            continue
        kind: Callable[[str], Any] = type(spec.default)
        try:
            values[spec.name] = kind(environ[name])
        except ValueError:
            raise ValueError(f"{name}={environ[name]!r}: expected {kind.__name__} (default {spec.default!r})") from None
    return cls(**values)


def powertools() -> tuple[Logger, Tracer, Metrics]:
    """A handler's logger, tracer and metrics: the service is POWERTOOLS_SERVICE_NAME, the metrics' namespace
    POWERTOOLS_METRICS_NAMESPACE (template Globals)."""
    from aws_lambda_powertools import Logger, Metrics, Tracer  # the Powertools layer: functions only, not the CLI

    return Logger(), Tracer(), Metrics()


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
class Settings:
    """A function's settings: a subclass declares its fields only (``field(default=..., metadata=env(NAME))``) and
    is a frozen dataclass; ``from_env`` reads it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings of the environment given (default: the process's, as it is when called: at cold start)."""
        return read_settings(cls, environ)


class Clients:
    """One boto3 client per service and one DynamoDB table resource per table, per container (created at first
    use); ``reset`` forgets them (tests switch between mocked accounts). `settings` gives the function's settings
    as they are when a table is first asked for (a test may replace them): ``targets_table`` and ``jobs_table``
    read the tables they name."""

    def __init__(self, settings: Callable[[], Any] | None = None) -> None:
        self._made: dict[str, Any] = {}
        self._settings = settings

    def targets_table(self) -> Any:
        """The TargetsTable (settings.targets_table, TARGETS_TABLE)."""
        return self.table(self._setting("targets_table"), "TARGETS_TABLE")

    def jobs_table(self) -> Any:
        """The JobsTable (settings.jobs_table, JOBS_TABLE)."""
        return self.table(self._setting("jobs_table"), "JOBS_TABLE")

    def _setting(self, name: str) -> Any:
        if self._settings is None:
            raise TypeError("Clients(settings) names the function's tables; these clients were made without")
        return getattr(self._settings(), name)

    def bedrock_agent(self) -> Any:
        return self.client("bedrock-agent")

    def stepfunctions(self) -> Any:
        return self.client("stepfunctions")

    def client(self, service: str) -> Any:
        if service not in self._made:
            import boto3

            self._made[service] = boto3.client(service)  # type: ignore[call-overload]  # any service name
        return self._made[service]

    def table(self, name: str, variable: str) -> Any:
        """The table `name`; a RuntimeError naming `variable` when the template did not set it."""
        if not name:
            raise RuntimeError(f"{variable} is not set (template.yaml sets it on this function)")
        key = f"table:{name}"
        if key not in self._made:
            import boto3

            self._made[key] = boto3.resource("dynamodb").Table(name)
        return self._made[key]

    def reset(self) -> None:
        self._made.clear()


class InvalidRequest(ValueError):
    """A step, event or payload that breaks its contract: the state machine ends in KbSync.InvalidRequest, no alert.

    The message is the Fail state's Cause: `<what>: <pointer>: <rule>: <sentence>[; ...]`, each problem naming the
    field as a JSON pointer into the state machine's input (kbsync_contracts.Violation), never echoing raw input
    that could not be stored or published.
    """

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{what}: {kbsync_contracts.listing(problems)}")


def checked(contract: str, what: str, event: Any) -> dict[str, Any]:
    """`event` if it keeps `contract`; InvalidRequest("<what>: <every problem>") otherwise."""
    problems = kbsync_contracts.problems(contract, event)
    if problems:
        raise InvalidRequest(what, problems)
    step: dict[str, Any] = event
    return step


class Logs(Protocol):
    def info(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...


def run_logged(logger: Logs, what: str, event: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one step; log '<what>' with its action and result, or '<what> rejected' with the reason (then re-raise:
    the state's Catch decides)."""
    try:
        result = run()
    except InvalidRequest as bad:
        logger.warning(f"{what} rejected", extra={"reason": str(bad)})
        raise
    logger.info(what, extra={"action": event.get("action"), "result": result})
    return result


def run_step_logged(
    logger: Logs, what: str, event: dict[str, Any], run_step: Callable[[Any, int], dict[str, Any]]
) -> dict[str, Any]:
    """``run_logged`` of a state machine's step: `run_step(event, now)`, now in epoch seconds."""
    now = kbsync_values.now_epoch()
    return run_logged(logger, what, event, lambda: run_step(event, now))
