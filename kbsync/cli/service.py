"""The operator's actions, as small functions over boto3 clients (testable without the argparse layer).

Every function here either returns plain data for the renderer or raises `CliError` with the next step; AWS errors
no function handles itself are mapped once, at the top (kbsync.cli.app).
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import kbsync_contracts
import kbsync_freshness
import kbsync_keys
import kbsync_values
from botocore.exceptions import BotoCoreError, ClientError

from kbsync import targets
from kbsync.cli import records
from kbsync.cli.aws import GATE_OUTPUT, Client, Stack
from kbsync.cli.errors import CliError, ExitCode, error_code, error_text
from kbsync.cli.names import execution_name_of
from kbsync.cli.outcome import RUNNING_STATUSES, describe_end, exit_for
from kbsync.cli.records import Record
from kbsync.cli.registry import TARGETS_OUTPUT, AwsCli, plain_aws_cli, unknown_ids


class Services:
    """The clients one command needs, created on first use (a client costs its service model's parsing), and the
    stack that names the resources."""

    def __init__(
        self,
        stack: Stack,
        factory: Callable[[str], Client] | None = None,
        aws_cli: Callable[[str, str], str] | None = None,
        **clients: Client,
    ) -> None:
        self.stack = stack
        self._factory = factory
        self._aws_cli = aws_cli
        self._clients = dict(clients)

    def aws_cli(self, command: str, service: str) -> str:
        """`aws <command>` as the user must type it to reach what kbsync reached (Clients.aws_cli): hints that work
        when pasted."""
        return self._aws_cli(command, service) if self._aws_cli else f"aws {command}"

    def _client(self, key: str, service: str) -> Client:
        if key not in self._clients:
            self._clients[key] = self._factory(service) if self._factory else None
        return self._clients[key]

    @property
    def sfn(self) -> Client:
        return self._client("sfn", "stepfunctions")

    @property
    def ddb(self) -> Client:
        return self._client("ddb", "dynamodb")

    @property
    def bedrock(self) -> Client:
        return self._client("bedrock", "bedrock-agent")

    @property
    def sts(self) -> Client | None:
        return self._client("sts", "sts")


# --------------------------------------------------------------------------- data sources and executions


def check_data_source(bedrock: Client, kb_id: str, ds_id: str, aws_cli: AwsCli = plain_aws_cli) -> dict[str, Any]:
    """The data source, or a NOT_FOUND error naming which id is unknown (the knowledge base or the data source) and
    the AWS CLI command that lists the real ones (registry.unknown_ids)."""
    try:
        found: dict[str, Any] = bedrock.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ds_id)["dataSource"]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        raise unknown_ids(bedrock, kb_id, ds_id, aws_cli) from exc
    return found


def execution_input(execution: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = json.loads(execution.get("input") or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def sync_request_of(execution_input: dict[str, Any]) -> dict[str, Any]:
    """The sync request in an execution's input: the input itself (ingestion sync), or its `request` (sync gate:
    {request, settleSeconds, ifBusy})."""
    inner = execution_input.get("request")
    return inner if isinstance(inner, dict) else execution_input


def live_execution(sfn: Client, execution_arn: str) -> dict[str, Any] | None:
    """The execution (described) while it runs; None once it ended or if Step Functions no longer knows it."""
    try:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise
    return described if described.get("status") == "RUNNING" else None


def held_gate(svc: Services, kb_id: str, ds_id: str) -> tuple[Record, dict[str, Any]] | None:
    """The data source's sync gate (schemas/gate-item.schema.json) and its holder execution, described, while that
    execution runs (a gate left by a holder that died holds no sync: the catch-all or the lease frees it)."""
    table = svc.stack.outputs.get(TARGETS_OUTPUT)
    gate = records.gate(svc.ddb, table, kb_id, ds_id) if table else None
    holder = _holder(svc, gate) if gate else None
    return (gate, holder) if gate is not None and holder is not None else None


def _holder(svc: Services, gate: Record) -> dict[str, Any] | None:
    """A gate's holder execution while it runs; None for a gate that names none (not a sync gate's: whoever wrote
    it, the gate itself still refuses a second holder, and that refusal is reported)."""
    holder_arn = gate.get("holderArn")
    return live_execution(svc.sfn, holder_arn) if isinstance(holder_arn, str) and holder_arn else None


def live_job(bedrock: Client, kb_id: str, ds_id: str, job_id: str) -> dict[str, Any] | None:
    """Bedrock's current view of a job (None if Bedrock no longer knows it)."""
    try:
        job: dict[str, Any] = bedrock.get_ingestion_job(
            knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id
        )["ingestionJob"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return job


# --------------------------------------------------------------------------- "is something running?"


@dataclass(frozen=True)
class Busy:
    """Why a data source cannot take another sync right now."""

    knowledge_base_id: str
    data_source_id: str
    job_id: str | None
    status: str
    started: str
    execution_arn: str | None  # the execution that runs the job (None: a job started outside kbsync)
    #: The execution to name to the user: the sync-gate execution `kbsync sync`/`rerun` printed, when one runs for
    #: this data source, else `execution_arn`.
    shown_execution_arn: str | None = None
    started_outside: bool = False  # a job kbsync did not start (console, script): no record, no kbsync description

    def refusal(self) -> CliError:
        """'already running: <execution> (...)': what runs, and the two things to do (exit code JOB_RUNNING)."""
        ids = f"--kb {self.knowledge_base_id} --ds {self.data_source_id}"
        todo = f"wait for it (`kbsync status {ids}`) or stop it (`kbsync stop {ids}`)"
        state = self.status.lower().replace("_", " ")
        if self.started_outside:
            return CliError(
                f"already running: ingestion job {self.job_id}, started outside kbsync ({state} since "
                f"{self.started}); kbsync starts no job on this data source until it ends: {todo}",
                ExitCode.JOB_RUNNING,
            )
        name = execution_name_of(self.shown_execution_arn or self.execution_arn or "")
        job = f"job {self.job_id} {state}" if self.job_id else "no ingestion job yet"
        return CliError(f"already running: {name} ({job}, started {self.started}); {todo}", ExitCode.JOB_RUNNING)


def find_busy(svc: Services, kb_id: str, ds_id: str) -> Busy | None:
    """The running job or gated sync of a data source, from the facts kbsync writes — its job records and its sync
    gate — each checked against Step Functions and Bedrock; then Bedrock's own running jobs (one started outside
    kbsync, or kbsync's own whose execution no longer watches it)."""
    held = held_gate(svc, kb_id, ds_id)
    shown = str(held[0]["holderArn"]) if held else None
    for record in records.running(svc.ddb, svc.stack.jobs_table, kb_id, ds_id):
        job_id = record.get("ingestionJobId")
        if live_execution(svc.sfn, str(record.get("executionArn"))) is not None:
            job = live_job(svc.bedrock, kb_id, ds_id, job_id) if job_id else None
            return _busy_from_record(record, job["status"] if job else str(record.get("status")), shown)
        if job_id:  # the execution ended without recording the end: ask Bedrock whether the job still runs
            job = live_job(svc.bedrock, kb_id, ds_id, job_id)
            if job is not None and job["status"] in RUNNING_STATUSES:
                return _busy_from_record(record, job["status"], None)
    if held is not None:  # a gated sync (upload, nightly, manual) waiting for its turn, no job record yet
        return Busy(kb_id, ds_id, None, "RUNNING", _iso(held[1]["startDate"]), shown, shown)
    running = _bedrock_running_job(svc.bedrock, kb_id, ds_id)
    if running is not None:
        own = kbsync_record_of_job(svc, kb_id, ds_id, running)
        return Busy(
            kb_id, ds_id, running["ingestionJobId"], running["status"], _iso(running["startedAt"]), None,
            own.get("executionArn") if own else None, started_outside=own is None,
        )  # fmt: skip
    return None


def kbsync_record_of_job(svc: Services, kb_id: str, ds_id: str, job: dict[str, Any]) -> Record | None:
    """kbsync's record of a job Bedrock reports: by its id, or — for a record whose execution died between the start
    and writing the id — by the Description kbsync gave the job (the record keeps it). None: started outside kbsync."""
    table = svc.stack.jobs_table
    found = records.find_job(svc.ddb, table, str(job["ingestionJobId"]), kb_id, ds_id)
    if found is None and job.get("description"):
        found = records.of_description(svc.ddb, table, kb_id, ds_id, str(job["description"]))
    return found


def _busy_from_record(record: Record, status: str, shown: str | None) -> Busy:
    return Busy(
        str(record["knowledgeBaseId"]),
        str(record["dataSourceId"]),
        record.get("ingestionJobId"),
        status,
        _iso(record.get("startedAt", "?")),
        record.get("executionArn"),
        shown,
    )


def _iso(moment: Any) -> str:
    """'2026-11-22T05:04:03Z': what the records, the alerts and the AWS CLI show, to the second."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return moment
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(moment)


# --------------------------------------------------------------------------- starting a sync


def requested_by(sts: Client | None) -> str:
    """Who asks: the caller's IAM ARN when STS answers, else the local user name; normalized to the contract's free
    text (a user name from the environment may hold anything: it is kbsync's own text, so it is made storable rather
    than refused)."""
    if sts is not None:
        try:
            return kbsync_contracts.normalize_text(str(sts.get_caller_identity()["Arn"]), 200)
        except (ClientError, BotoCoreError):
            pass
    try:
        return kbsync_contracts.normalize_text(getpass.getuser(), 200) or "kbsync-cli"
    except (OSError, KeyError):
        return "kbsync-cli"


#: The CLI option that sets each field of the sync request (a contract problem names the option, not the pointer).
REQUEST_OPTIONS = {"/knowledgeBaseId": "--kb", "/dataSourceId": "--ds", "/reason": "--reason"}


def sync_request(kb_id: str, ds_id: str, reason: str | None, who: str | None) -> dict[str, Any]:
    """The sync request contract (schemas/sync-request.schema.json), validated before anything starts."""
    request: dict[str, Any] = {"knowledgeBaseId": kb_id, "dataSourceId": ds_id, "trigger": "manual"}
    if reason:
        request["reason"] = reason
    if who:
        request["requestedBy"] = who
    found = kbsync_contracts.violations("sync-request", request)
    if found:
        named = [
            f"{REQUEST_OPTIONS[v.pointer]} ({v.pointer}): {v.rule}: {v.message}"
            if v.pointer in REQUEST_OPTIONS
            else str(v)
            for v in found
        ]
        raise CliError(
            f"invalid sync request: {kbsync_contracts.listing(named)}: fix the argument and retry", ExitCode.USAGE
        )
    return request


@dataclass(frozen=True)
class Started:
    execution_arn: str
    name: str
    request: dict[str, Any]
    gated: bool = False  # a sync-gate execution (it runs the ingestion-sync execution(s)), not an ingestion-sync one


#: How long `kbsync sync` waits for the sync gate's decision (its first state, one Lambda call) before giving up.
GATE_DECISION_TIMEOUT_S = 60.0
GATE_DECISION_POLL_S = 0.2


def start_sync(svc: Services, kb_id: str, ds_id: str, reason: str | None) -> Started:
    """Refuse if the data source is busy, else start a manual sync through the stack's sync gate (the gate coalesces
    with uploads and nightly runs and paces Bedrock's account quotas; load_stack requires its output)."""
    request = sync_request(kb_id, ds_id, reason, requested_by(svc.sts))
    check_data_source(svc.bedrock, kb_id, ds_id, svc.aws_cli)
    busy = find_busy(svc, kb_id, ds_id)
    if busy is not None:
        raise busy.refusal()
    return _start_through_gate(svc, svc.stack.outputs[GATE_OUTPUT], request)


def _start_through_gate(svc: Services, gate_arn: str, request: dict[str, Any]) -> Started:
    """One sync-gate execution with the manual semantics (no settle delay, `ifBusy: skip`): it takes the data
    source's gate, or ends at once naming the holder — then refuse like a running job (exit 7), never queue."""
    kb_id, ds_id = request["knowledgeBaseId"], request["dataSourceId"]
    try:
        answer = targets.request_sync(
            svc.sfn,
            gate_arn,
            kb_id,
            ds_id,
            ddb=svc.ddb,
            targets_table=svc.stack.outputs[TARGETS_OUTPUT],
            reason=request.get("reason"),
            requested_by=request.get("requestedBy"),
            queue=False,
            timeout_s=GATE_DECISION_TIMEOUT_S,
            poll_s=GATE_DECISION_POLL_S,
        )
    except targets.TargetError as exc:
        code = ExitCode.USAGE if "InvalidRequest" in str(exc) else ExitCode.FAILED
        raise CliError(f"{exc}; nothing was started", code) from exc
    except TimeoutError as exc:
        follow_it = f"follow it with `kbsync status --kb {kb_id} --ds {ds_id}`"
        raise CliError(f"{exc}: {follow_it}", ExitCode.WAIT_TIMEOUT) from exc
    if answer.outcome != "STARTED":
        raise _gate_refusal(svc, kb_id, ds_id, answer.held_by)
    return Started(answer.execution_arn, execution_name_of(answer.execution_arn), request, gated=True)


def _gate_refusal(svc: Services, kb_id: str, ds_id: str, holder: str) -> CliError:
    """The gate is held (a race with an upload or nightly sync since the check): name the job if one runs."""
    busy = find_busy(svc, kb_id, ds_id)
    if busy is not None:
        return busy.refusal()
    ids = f"--kb {kb_id} --ds {ds_id}"
    return CliError(
        f"already running: {holder or '?'} (it holds the sync gate of this data source, no ingestion job yet); wait "
        f"for it (`kbsync status {ids}`) or stop it (`kbsync stop {ids}`)",
        ExitCode.JOB_RUNNING,
    )


# --------------------------------------------------------------------------- following an execution


@dataclass(frozen=True)
class Progress:
    status: str
    job_id: str | None
    attempt: int | None
    scanned: int
    indexed: int
    failed: int
    elapsed_s: float


@dataclass(frozen=True)
class Ended:
    execution_arn: str
    execution_status: str
    error: str | None
    cause: str | None
    record: Record | None
    code: ExitCode
    outcome: str
    elapsed_s: float
    live: dict[str, Any] | None = field(default=None)
    gate_execution_arn: str | None = None
    problem: str | None = None  # why an execution that SUCCEEDED is not reported as a success (NO_RECORD)
    coalesced_from: str | None = None  # this sync's own execution, when it coalesced into the one reported here


def statistics_counts(statistics: dict[str, Any] | None) -> tuple[int, int, int]:
    """(scanned, indexed = new + modified, failed) from Bedrock's statistics."""
    stats = statistics or {}
    indexed = int(stats.get("numberOfNewDocumentsIndexed", 0)) + int(stats.get("numberOfModifiedDocumentsIndexed", 0))
    return int(stats.get("numberOfDocumentsScanned", 0)), indexed, int(stats.get("numberOfDocumentsFailed", 0))


def _elapsed(execution: dict[str, Any]) -> float:
    start = execution.get("startDate")
    end = execution.get("stopDate") or datetime.now(UTC)
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max(0.0, (end - start).total_seconds())
    return 0.0


def progress_of(svc: Services, execution: dict[str, Any], record: Record | None) -> Progress:
    """Where an execution is: its newest record, refreshed from Bedrock while the job runs."""
    if record is None:
        return Progress("WAITING", None, None, 0, 0, 0, _elapsed(execution))
    status = str(record.get("status"))
    stats = record.get("statistics")
    job_id = record.get("ingestionJobId")
    if job_id and status in RUNNING_STATUSES:
        job = live_job(svc.bedrock, record["knowledgeBaseId"], record["dataSourceId"], job_id)
        if job is not None:
            status, stats = job["status"], job.get("statistics")
    scanned, indexed, failed = statistics_counts(stats)
    return Progress(status, job_id, record.get("attempt"), scanned, indexed, failed, _elapsed(execution))


def follow(
    svc: Services,
    execution_arn: str,
    *,
    on_progress: Callable[[Progress], None],
    interval_s: float,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    on_round_end: Callable[[Ended], None] = lambda _ended: None,
    _via: frozenset[str] = frozenset(),
) -> Ended:
    """Poll an execution (and its job) until it ends or `timeout_s` passes (then WAIT_TIMEOUT: the sync goes on).

    A sync-gate execution is followed through the ingestion-sync execution of each of its rounds; the outcome (and
    exit code) is the last round's ingestion sync. `on_round_end` hears of each earlier round that ended. An
    ingestion sync that COALESCED (another execution's job already covered its request) is followed into that
    execution: the outcome is that job's, with `coalesced_from` naming the sync's own execution.
    """
    deadline = monotonic() + timeout_s
    gated = is_gate_execution(svc.stack, execution_arn)
    execution = svc.sfn.describe_execution(executionArn=execution_arn)
    request = execution_input(execution)
    request = request["request"] if gated and isinstance(request.get("request"), dict) else request
    kb_id, ds_id = str(request.get("knowledgeBaseId")), str(request.get("dataSourceId"))
    child: dict[str, Any] | None = None
    while True:
        if gated:
            previous, child = child, current_round(svc, execution)
            if previous is not None and (child is None or child["executionArn"] != previous["executionArn"]):
                on_round_end(_ended(previous, _newest_record(svc, kb_id, ds_id, previous["executionArn"])))
        followed = child if child is not None else execution  # before its first round: the gate's waiting time
        record = None if gated and child is None else _newest_record(svc, kb_id, ds_id, followed["executionArn"])
        if execution["status"] != "RUNNING":
            ended = _gate_ended(execution, child, record) if gated else _ended(execution, record)
            covering = coalesced_into(ended)
            if covering is not None and covering not in _via:
                outcome = follow(
                    svc,
                    covering,
                    on_progress=on_progress,
                    interval_s=interval_s,
                    timeout_s=max(0.0, deadline - monotonic()),
                    sleep=sleep,
                    monotonic=monotonic,
                    on_round_end=on_round_end,
                    _via=_via | {ended.execution_arn},
                )
                return replace(outcome, coalesced_from=ended.execution_arn)
            return proven(ended, svc.stack, kb_id, ds_id)
        on_progress(progress_of(svc, followed, record))
        if monotonic() >= deadline:
            raise CliError(
                f"still running after {timeout_s:g}s (execution {execution_name_of(execution_arn)}); the sync goes "
                f"on: follow it with `kbsync status --kb {kb_id} --ds {ds_id}`",
                ExitCode.WAIT_TIMEOUT,
            )
        sleep(interval_s)
        execution = svc.sfn.describe_execution(executionArn=execution_arn)


def _newest_record(svc: Services, kb_id: str, ds_id: str, execution_arn: str) -> Record | None:
    newest = records.of_execution(svc.ddb, svc.stack.jobs_table, kb_id, ds_id, execution_arn)
    return newest[0] if newest else None


def is_gate_execution(stack: Stack, execution_arn: str) -> bool:
    """Whether the execution belongs to the stack's sync-gate state machine (ARNs: ...:execution:<machine>:<name>)."""
    gate = stack.gate_state_machine_arn
    return bool(gate) and state_machine_of(execution_arn) == gate


def state_machine_of(execution_arn: str) -> str:
    """arn:aws:states:<region>:<account>:execution:<machine>:<name> -> that machine's ARN."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] != "execution":
        return ""
    return ":".join([*parts[:5], "stateMachine", parts[6]])


def current_round(svc: Services, gate_execution: dict[str, Any]) -> dict[str, Any] | None:
    """The ingestion-sync execution of a gate execution's newest round (described): the one that wrote the newest job
    record naming the gate execution (gateExecutionArn, set from the round's request). None before the round's record
    (the gate settles, or waits for a job slot) or once Step Functions no longer knows the execution."""
    request = sync_request_of(execution_input(gate_execution))
    kb_id, ds_id = str(request.get("knowledgeBaseId")), str(request.get("dataSourceId"))
    since = _iso(gate_execution["startDate"])[:19]  # to the second: a prefix of every later record's startedAt
    rounds = records.of_gate(svc.ddb, svc.stack.jobs_table, kb_id, ds_id, str(gate_execution["executionArn"]), since)
    if not rounds:
        return None
    try:
        described: dict[str, Any] = svc.sfn.describe_execution(executionArn=str(rounds[0]["executionArn"]))
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise
    return described


def _gate_ended(gate: dict[str, Any], child: dict[str, Any] | None, record: Record | None) -> Ended:
    """The end of a gated sync: its last round's ingestion sync decides; with no round, the gate execution itself
    (invalid input, lease lost, or the gate died before any job: the catch-all alerts on that)."""
    decided_by = gate if child is None or child["status"] == "RUNNING" else child
    ended = _ended(decided_by, record)
    return replace(ended, gate_execution_arn=str(gate["executionArn"]))


#: The outcome of an execution that SUCCEEDED but whose job kbsync cannot name (exit code NO_RECORD).
NO_RECORD_OUTCOME = "NO_RECORD"


def coalesced_into(ended: Ended) -> str | None:
    """The execution whose job covers this sync's request: an ingestion sync that finds another execution's job
    covering it closes its record COALESCED, naming that execution (RecordCoalesced in ingestion-sync.asl.json)."""
    record = ended.record or {}
    covering = record.get("coalescedIntoExecution")
    if ended.execution_status == "SUCCEEDED" and record.get("status") == "COALESCED" and covering:
        return None if covering == ended.execution_arn else str(covering)
    return None


def proven(ended: Ended, stack: Stack, kb_id: str, ds_id: str) -> Ended:
    """A sync reported as a success names its job and its record. An execution that SUCCEEDED without either — the
    round's ingestion-sync execution of a gated sync not found (the follow fell back to the gate execution), or no
    job record written by the execution — proves nothing: NO_RECORD, with what is missing, never OK."""
    if ended.execution_status != "SUCCEEDED" or (ended.record and ended.record.get("ingestionJobId")):
        return ended
    name = execution_name_of(ended.execution_arn)
    if ended.gate_execution_arn is not None and ended.gate_execution_arn == ended.execution_arn:
        what = (
            f"sync gate execution {name} SUCCEEDED but kbsync found no ingestion-sync execution of its round "
            f"(state machine {stack.state_machine_arn})"
        )
    else:
        what = f"execution {name} SUCCEEDED but kbsync found no job record of it in table {stack.jobs_table}"
    problem = f"{what}: check `kbsync history --kb {kb_id} --ds {ds_id}` before relying on this sync"
    return replace(ended, code=ExitCode.NO_RECORD, outcome=NO_RECORD_OUTCOME, problem=problem)


def _ended(execution: dict[str, Any], record: Record | None) -> Ended:
    status = str(execution["status"])
    error = execution.get("error")
    record_status = str(record["status"]) if record else None
    return Ended(
        execution_arn=execution["executionArn"],
        execution_status=status,
        error=error,
        cause=execution.get("cause"),
        record=record,
        code=exit_for(status, error, record_status),
        outcome=describe_end(status, error, record_status),
        elapsed_s=_elapsed(execution),
    )


# --------------------------------------------------------------------------- stop


@dataclass(frozen=True)
class StopPlan:
    """What `kbsync stop` acted on."""

    job_id: str | None
    execution_arn: str | None
    action: str  # "stopped job" | "already stopping" | "stopped execution" | "job already ended"
    started_outside: bool = False  # the job was started outside kbsync (no record: nothing records or alerts it)


def stop(svc: Services, kb_id: str, ds_id: str) -> StopPlan:
    """StopIngestionJob on the running job (the workflow then records STOPPED and alerts); with no job yet, stop the
    execution itself. NOTHING_RUNNING when neither exists."""
    busy = find_busy(svc, kb_id, ds_id)
    job_id = busy.job_id if busy else None
    if busy is not None and job_id is None:  # an execution with no job yet, unless Bedrock already runs one
        outside = _bedrock_running_job(svc.bedrock, kb_id, ds_id)
        job_id = outside["ingestionJobId"] if outside else None
    if job_id is not None:
        foreign = busy.started_outside if busy and busy.job_id else False
        action = _stop_job(svc.bedrock, kb_id, ds_id, job_id)
        return StopPlan(job_id, busy.execution_arn if busy else None, action, started_outside=foreign)
    if busy is not None and busy.execution_arn:
        return StopPlan(None, _stop_executions(svc, kb_id, ds_id, busy.execution_arn), "stopped execution")
    raise CliError(
        f"nothing is running for knowledge base {kb_id} / data source {ds_id}: see "
        f"`kbsync history --kb {kb_id} --ds {ds_id}`",
        ExitCode.NOTHING_RUNNING,
    )


#: Not a `KbSync.*` error on purpose: the catch-all ignores those ("already alerted"), and only the catch-all releases
#: the sync gate and job slot a stopped execution held (else the data source stays gated until the lease expires).
STOPPED_BY_OPERATOR = "StoppedByOperator"


def _stop_executions(svc: Services, kb_id: str, ds_id: str, newest: str) -> str:
    """Stop the data source's running executions that have no job yet: the sync-gate execution that holds its gate
    first (so none starts another round), then the ingestion syncs of its open records. Returns the one to wait for
    (the gate's, if any)."""
    held = held_gate(svc, kb_id, ds_id)
    running = [str(held[0]["holderArn"])] if held else []
    for record in records.running(svc.ddb, svc.stack.jobs_table, kb_id, ds_id):
        arn = str(record.get("executionArn"))
        if not record.get("ingestionJobId") and arn not in running and live_execution(svc.sfn, arn) is not None:
            running.append(arn)
    for arn in running or [newest]:
        try:
            svc.sfn.stop_execution(
                executionArn=arn,
                error=STOPPED_BY_OPERATOR,
                cause=f"kbsync stop --kb {kb_id} --ds {ds_id} before any ingestion job started",
            )
        except ClientError as exc:
            if error_code(exc) != "ExecutionDoesNotExist":
                raise
    return running[0] if running else newest


def _bedrock_running_jobs(bedrock: Client, kb_id: str, ds_id: str) -> list[dict[str, Any]]:
    """The summaries of the jobs Bedrock reports running for this data source, newest first (also those started
    outside kbsync). Bedrock runs one job per data source at a time, so the first page has them all."""
    summaries = bedrock.list_ingestion_jobs(
        knowledgeBaseId=kb_id,
        dataSourceId=ds_id,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": list(RUNNING_STATUSES)}],
        sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
    ).get("ingestionJobSummaries", [])
    return [dict(summary) for summary in summaries]


def _bedrock_running_job(bedrock: Client, kb_id: str, ds_id: str) -> dict[str, Any] | None:
    """The newest job Bedrock reports running for this data source (also one started outside kbsync)."""
    running = _bedrock_running_jobs(bedrock, kb_id, ds_id)
    return running[0] if running else None


def _stop_job(bedrock: Client, kb_id: str, ds_id: str, job_id: str) -> str:
    job = live_job(bedrock, kb_id, ds_id, job_id)
    if job is not None and job["status"] == "STOPPING":
        return "already stopping"
    if job is not None and job["status"] not in RUNNING_STATUSES:
        return "job already ended"
    try:
        bedrock.stop_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id)
    except ClientError as exc:
        if error_code(exc) in {"ConflictException", "ValidationException"}:
            return f"job already ended ({error_text(exc)})"
        raise
    return "stopped job"


def wait_ended(
    svc: Services,
    execution_arn: str,
    *,
    interval_s: float,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Ended:
    """Wait for an execution to end, without progress output (used by stop)."""
    return follow(
        svc,
        execution_arn,
        on_progress=lambda _p: None,
        interval_s=interval_s,
        timeout_s=timeout_s,
        sleep=sleep,
        monotonic=monotonic,
    )


# --------------------------------------------------------------------------- status, show, rerun


@dataclass(frozen=True)
class RunningRow:
    knowledge_base_id: str
    data_source_id: str
    job_id: str | None
    status: str
    started: str
    trigger: str
    scanned: int
    indexed: int
    failed: int
    execution_arn: str | None
    started_outside: bool = False  # an ingestion job kbsync did not start (console, script): its next start waits


#: The trigger column of a job started outside kbsync.
OUTSIDE_TRIGGER = "outside kbsync"


def status(svc: Services, kb_id: str | None = None, ds_id: str | None = None) -> list[RunningRow]:
    """What is running now: every running job record (live from Bedrock), plus executions with no job yet."""
    rows: list[RunningRow] = []
    for record in records.running(svc.ddb, svc.stack.jobs_table, kb_id, ds_id):
        kb, ds, job_id = str(record["knowledgeBaseId"]), str(record["dataSourceId"]), record.get("ingestionJobId")
        state, stats = str(record["status"]), record.get("statistics")
        if job_id:
            job = live_job(svc.bedrock, kb, ds, job_id)
            if job is not None:
                state, stats = job["status"], job.get("statistics")
        if state not in RUNNING_STATUSES:
            continue  # ended a moment ago; the workflow will record it on its next poll
        scanned, indexed, failed = statistics_counts(stats)
        rows.append(
            RunningRow(
                kb,
                ds,
                job_id,
                state,
                str(record.get("startedAt", "")),
                str(record.get("trigger", "")),
                scanned,
                indexed,
                failed,
                record.get("executionArn"),
            )
        )
    shown = {(r.knowledge_base_id, r.data_source_id) for r in rows}
    rows.extend(_waiting_gates(svc, kb_id, ds_id, shown))
    rows.extend(_outside_jobs(svc, kb_id, ds_id, rows))
    return rows


def _outside_jobs(svc: Services, kb_id: str | None, ds_id: str | None, rows: list[RunningRow]) -> list[RunningRow]:
    """Jobs Bedrock reports running (ListIngestionJobs) that kbsync did not start, on the data source asked about, or
    else on every registered data source and every one already shown: they block kbsync's next start."""
    if kb_id and ds_id:
        sources = {(kb_id, ds_id)}
    else:
        sources = set(registered_data_sources(svc)) | {(r.knowledge_base_id, r.data_source_id) for r in rows}
    known = {r.job_id for r in rows if r.job_id}
    found: list[RunningRow] = []
    for kb, ds in sorted(sources):
        try:
            jobs = _bedrock_running_jobs(svc.bedrock, kb, ds)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            if kb_id and ds_id:  # the one asked about does not exist: say which id is wrong
                raise unknown_ids(svc.bedrock, kb, ds, svc.aws_cli) from exc
            continue  # a registered target whose data source was deleted: nothing runs on it
        for job in jobs:
            job_id = str(job["ingestionJobId"])
            if job_id in known or not _started_outside(svc, kb, ds, job):
                continue
            scanned, indexed, failed = statistics_counts(job.get("statistics"))
            started = _iso(job.get("startedAt", ""))
            row = RunningRow(kb, ds, job_id, str(job["status"]), started, OUTSIDE_TRIGGER, scanned, indexed, failed,
                             None, started_outside=True)  # fmt: skip
            found.append(row)
    return found


def _started_outside(svc: Services, kb: str, ds: str, job: dict[str, Any]) -> bool:
    """kbsync has no record of the job (by its id or its Description)."""
    return kbsync_record_of_job(svc, kb, ds, job) is None


# --------------------------------------------------------------------------- freshness (status)


@dataclass(frozen=True)
class FreshnessRow:
    """A registered target's freshness, from its TARGET item and its job records (never from executions)."""

    knowledge_base_id: str
    data_source_id: str
    #: The freshness check's last verdict (FRESH, STALE, LAGGING; FRESH when it never judged the target).
    freshness: str
    #: The end of the newest COMPLETE or PARTIAL record; None: never synced.
    last_success: str | None
    last_status: str | None
    age_seconds: int
    #: The target's own allowed age; None: the stack's FreshnessMaxAgeHours.
    max_age_hours: int | None
    #: The oldest S3 change no successful sync covers; None: none waiting.
    pending_since: str | None
    lag_seconds: int


#: At most this many job records are read per target to find its newest successful one (the freshness check's bound).
FRESHNESS_RECORDS = 500


def _newest_successful(ddb: Client, table: str, kb_id: str, ds_id: str) -> Record | None:
    """The newest COMPLETE or PARTIAL job record of a data source (newest first, at most FRESHNESS_RECORDS read)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :job)",
        "FilterExpression": "#status IN (:complete, :partial)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":pk": {"S": kbsync_keys.ds_pk(kb_id, ds_id)},
            ":job": {"S": kbsync_keys.JOB_SK_PREFIX},
            ":complete": {"S": kbsync_freshness.SUCCESSFUL[0]},
            ":partial": {"S": kbsync_freshness.SUCCESSFUL[1]},
        },
        "ScanIndexForward": False,
        "Limit": 100,
    }
    read = 0
    while read < FRESHNESS_RECORDS:
        page = ddb.query(**kwargs)
        if page.get("Items"):
            return records.from_item(page["Items"][0])
        read += int(page.get("ScannedCount", 0))
        if "LastEvaluatedKey" not in page:
            return None
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return None


def freshness(
    svc: Services, kb_id: str | None = None, ds_id: str | None = None, now: datetime | None = None
) -> list[FreshnessRow]:
    """Each registered target's age (since its last successful sync ended, or since its registration: "never
    synced") and lag (since the oldest S3 change no successful sync covers), with the check's last verdict; sorted."""
    table = svc.stack.outputs.get(TARGETS_OUTPUT)
    if not table:
        return []
    now = now or datetime.now(UTC)
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "sk = :target",
        "ExpressionAttributeValues": {":target": {"S": kbsync_keys.TARGET_SK}},
    }
    if kb_id and ds_id:
        kwargs = {"TableName": table, "Key": kbsync_keys.client_key(kbsync_keys.target_key(kb_id, ds_id))}
        item = svc.ddb.get_item(**kwargs).get("Item")
        items = [item] if item else []
    else:
        items = []
        while True:
            page = svc.ddb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    rows = []
    for target in (records.from_item(item) for item in items):
        kb, ds = str(target["knowledgeBaseId"]), str(target["dataSourceId"])
        last = _newest_successful(svc.ddb, svc.stack.jobs_table, kb, ds)
        pending, _ = kbsync_freshness.waiting_since(target, last)
        max_age = target.get("maxAgeHours")
        rows.append(
            FreshnessRow(
                kb,
                ds,
                str(target.get("freshness") or kbsync_freshness.FRESH),
                str(last["updatedAt"]) if last else None,
                str(last["status"]) if last else None,
                round(kbsync_freshness.age_seconds(target, last, now)),
                int(max_age) if max_age is not None else None,
                kbsync_values.utc_seconds(pending.timestamp()) if pending else None,
                round(kbsync_freshness.lag_seconds(target, last, now)),
            )
        )
    return sorted(rows, key=lambda r: (r.knowledge_base_id, r.data_source_id))


def registered_data_sources(svc: Services) -> list[tuple[str, str]]:
    """The (knowledge base, data source) of every registered target (the stack's TargetsTable, if it has one)."""
    table = svc.stack.outputs.get(TARGETS_OUTPUT)
    return records.registered(svc.ddb, table) if table else []


def _waiting_gates(
    svc: Services, kb_id: str | None, ds_id: str | None, shown: set[tuple[str, str]]
) -> list[RunningRow]:
    """Gated syncs with no running job record: they hold their data source's sync gate and wait (settling, or for a
    job slot). A data source already shown is not shown again for its gate."""
    table = svc.stack.outputs.get(TARGETS_OUTPUT)
    if not table:
        return []
    if kb_id and ds_id:
        found = records.gate(svc.ddb, table, kb_id, ds_id)
        gates = [found] if found else []
    else:
        gates = records.gates(svc.ddb, table)
    rows = []
    for gate in gates:
        kb, ds = str(gate.get("knowledgeBaseId")), str(gate.get("dataSourceId"))
        holder = None if (kb, ds) in shown else _holder(svc, gate)
        if holder is None:
            continue
        started, trigger = _iso(holder["startDate"]), str(gate.get("trigger", ""))
        rows.append(RunningRow(kb, ds, None, "WAITING", started, trigger, 0, 0, 0, holder["executionArn"]))
    return sorted(rows, key=lambda row: (row.knowledge_base_id, row.data_source_id))


@dataclass(frozen=True)
class JobDetail:
    record: Record | None  # None: a job kbsync has no record of (started outside kbsync)
    live: dict[str, Any] | None
    execution: dict[str, Any] | None


#: At most this many registered data sources are asked for a job id that has no record (`show`/`rerun` without --kb).
MAX_SEARCHED_DATA_SOURCES = 100


def show(svc: Services, job_id: str, kb_id: str | None = None, ds_id: str | None = None) -> JobDetail:
    """One job in full: its record, Bedrock's view (every failure reason) and its execution; a job with no record
    (started outside kbsync) from Bedrock alone."""
    record = records.find_job(svc.ddb, svc.stack.jobs_table, job_id, kb_id, ds_id)
    if record is None:
        return JobDetail(None, bedrock_job(svc, job_id, kb_id, ds_id), None)
    live = live_job(svc.bedrock, record["knowledgeBaseId"], record["dataSourceId"], job_id)
    execution = None
    if record.get("executionArn"):
        try:
            execution = svc.sfn.describe_execution(executionArn=record["executionArn"])
        except ClientError as exc:
            if error_code(exc) != "ExecutionDoesNotExist":
                raise
    return JobDetail(record, live, execution)


def _bedrock_job_on(svc: Services, job_id: str, kb_id: str, ds_id: str, absent: set[str]) -> dict[str, Any] | None:
    """GetIngestionJob on one data source; None when Bedrock answers one of the `absent` error codes."""
    try:
        job: dict[str, Any] = svc.bedrock.get_ingestion_job(
            knowledgeBaseId=kb_id, dataSourceId=ds_id, ingestionJobId=job_id
        )["ingestionJob"]
        return job
    except ClientError as exc:
        if error_code(exc) not in absent:
            raise
        return None


def bedrock_job(svc: Services, job_id: str, kb_id: str | None, ds_id: str | None) -> dict[str, Any]:
    """A job kbsync has no record of, from Bedrock (GetIngestionJob): on the data source given, else on the
    registered ones. NOT_FOUND naming where kbsync looked."""
    if kb_id and ds_id:
        found = _bedrock_job_on(svc, job_id, kb_id, ds_id, {"ResourceNotFoundException"})
        if found is not None:
            return found
        check_data_source(svc.bedrock, kb_id, ds_id, svc.aws_cli)  # an unknown id is named first
        raise CliError(
            f"no ingestion job {job_id} on knowledge base {kb_id} / data source {ds_id}: neither a kbsync job record "
            f"(table {svc.stack.jobs_table}) nor a job in Bedrock; check the id with `kbsync history --kb {kb_id} "
            f"--ds {ds_id}`",
            ExitCode.NOT_FOUND,
        )
    for kb, ds in registered_data_sources(svc)[:MAX_SEARCHED_DATA_SOURCES]:
        job = _bedrock_job_on(svc, job_id, kb, ds, {"ResourceNotFoundException", "ValidationException"})
        if job is not None:
            return job
    raise CliError(
        f"no ingestion job {job_id}: no kbsync job record of it (table {svc.stack.jobs_table}) and no registered "
        "data source has it in Bedrock; check the id (from the alert or `kbsync history --kb ID --ds ID`), or pass "
        "--kb and --ds for a data source kbsync does not sync",
        ExitCode.NOT_FOUND,
    )


@dataclass(frozen=True)
class RerunTarget:
    knowledge_base_id: str
    data_source_id: str
    reason: str


def rerun_target(svc: Services, job_or_execution: str, is_arn: bool) -> RerunTarget:
    """The data source to sync again and the reason pointing at the original job (or execution)."""
    if is_arn:
        try:
            execution = svc.sfn.describe_execution(executionArn=job_or_execution)
        except ClientError as exc:
            if error_code(exc) in {"ExecutionDoesNotExist", "ResourceNotFoundException"}:
                raise CliError(
                    f"execution {job_or_execution} not found: check the ARN (from the alert or `kbsync history`)",
                    ExitCode.NOT_FOUND,
                ) from exc
            raise
        request = execution_input(execution)
        if isinstance(request.get("request"), dict):  # a sync-gate execution: {request, settleSeconds, ifBusy}
            request = request["request"]
        kb_id, ds_id = request.get("knowledgeBaseId"), request.get("dataSourceId")
        if not (isinstance(kb_id, str) and isinstance(ds_id, str)):
            raise CliError(
                f"execution {execution_name_of(job_or_execution)} has no valid sync request as input: rerun with "
                "`kbsync sync --kb ID --ds ID`",
                ExitCode.USAGE,
            )
        written = records.of_execution(svc.ddb, svc.stack.jobs_table, kb_id, ds_id, job_or_execution)
        child = current_round(svc, execution) if is_gate_execution(svc.stack, job_or_execution) else None
        if not written and child is not None:  # a gated sync: its round's ingestion-sync execution wrote the record
            written = records.of_execution(svc.ddb, svc.stack.jobs_table, kb_id, ds_id, child["executionArn"])
        job_id = written[0].get("ingestionJobId") if written else None
        origin = f"job {job_id}" if job_id else f"execution {execution_name_of(job_or_execution)}"
        return RerunTarget(kb_id, ds_id, f"rerun of {origin}")
    record = records.find_job(svc.ddb, svc.stack.jobs_table, job_or_execution)
    if record is None:  # a job started outside kbsync, on a registered data source: sync that data source
        job = bedrock_job(svc, job_or_execution, None, None)
        reason = f"rerun of job {job_or_execution} (started outside kbsync)"
        return RerunTarget(str(job["knowledgeBaseId"]), str(job["dataSourceId"]), reason)
    return RerunTarget(str(record["knowledgeBaseId"]), str(record["dataSourceId"]), f"rerun of job {job_or_execution}")
