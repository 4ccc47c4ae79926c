"""The argparse layer: parse, build the clients, call the service layer, render, return the exit code.

Nothing below `main` lets an exception escape as a traceback: `CliError` carries its own line and exit code, boto3
and botocore errors are mapped by `errors.from_aws`, Ctrl-C says what keeps running.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from importlib import metadata
from typing import Any, TextIO

import kbsync_contracts
from botocore.exceptions import BotoCoreError, ClientError

from kbsync import __version__, targets
from kbsync.cli import registry, service
from kbsync.cli.aws import DEFAULT_STACK, Clients, Stack, load_stack
from kbsync.cli.errors import DEFAULT_CONFIG_FILE, EXIT_CODE_HELP, CliError, ExitCode, from_aws
from kbsync.cli.names import execution_name_of, is_bedrock_id, is_execution_arn
from kbsync.cli.outcome import ALL_STATUSES
from kbsync.cli.render import ProgressLine, Style, as_json
from kbsync.cli.views import (
    ended_text,
    freshness_table,
    history_table,
    progress_text,
    show_text,
    started_text,
    status_table,
    targets_table,
)

DEFAULT_WAIT_TIMEOUT_S = 4 * 3600.0
DEFAULT_INTERVAL_S = 5.0
DEFAULT_STOP_TIMEOUT_S = 900.0
#: Plugins adding commands (entry points of this group: ``add_commands(commands, common, json_flag)``); the local
#: cloud's package (localcloud/pyproject.toml) declares ``local``, so the CLI never imports the local cloud.
PLUGIN_GROUP = "kbsync.cli"
LOCAL_NOT_INSTALLED = "the local cloud is not installed: pip install -e ./localcloud (make dev)"

DESCRIPTION = "Sync Amazon Bedrock knowledge bases with S3 through the kbsync workflow, and operate it."


def _epilog() -> str:
    codes = "\n".join(f"  {int(code):>3}  {text}" for code, text in EXIT_CODE_HELP)
    return (
        "examples:\n"
        "  kbsync sync --kb KB12345678 --ds DS12345678 --wait\n"
        "  kbsync history --kb KB12345678 --ds DS12345678 --status FAILED\n"
        "  kbsync rerun JOB1234567\n"
        "  kbsync targets add --kb KB12345678 --ds DS12345678\n\n"
        "AWS: configured as the AWS CLI v2 is. Region: --region, else AWS_REGION, else\n"
        "AWS_DEFAULT_REGION, else the profile's region in ~/.aws/config (AWS_CONFIG_FILE); profile:\n"
        "--profile, else AWS_PROFILE, else 'default'; endpoint: --endpoint-url, else\n"
        "AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's endpoint_url (the local cloud:\n"
        "`kbsync local up`; on it, no region or credentials are needed). Resources come from the\n"
        "outputs of the deployed stack (--stack-name, KBSYNC_STACK).\n\n"
        f"exit codes:\n{codes}\n\nrunbooks: runbooks/README.md"
    )


# --------------------------------------------------------------------------- argument types


def bedrock_id(kind: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not is_bedrock_id(value):
            raise argparse.ArgumentTypeError(f"invalid {kind} id {value!r}: 10 letters or digits, e.g. AB12CD34EF")
        return value

    check.__name__ = f"{kind} id"
    return check


def job_or_execution(value: str) -> str:
    if is_bedrock_id(value) or is_execution_arn(value):
        return value
    raise argparse.ArgumentTypeError(
        f"invalid id {value!r}: an ingestion job id (10 letters or digits) or an execution ARN (arn:aws:states:...)"
    )


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from exc
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds: {value!r}")
    return seconds


def port_number(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}")
    return int(value)


#: The sync request's free-text limits (schemas/sync-request.schema.json): the CLI refuses what the contract refuses,
#: before any AWS call, naming the option and the rule.
REASON_MAX_CHARS = 500


def reason_text(value: str) -> str:
    """--reason: printable UTF-8 on one line, at most 500 characters (undecodable argv bytes arrive as lone
    surrogates: refused, as the job record and the alert could not carry them)."""
    if len(value) > REASON_MAX_CHARS:
        raise argparse.ArgumentTypeError(f"maxLength: {len(value)} characters, at most {REASON_MAX_CHARS} allowed")
    why = kbsync_contracts.text_problem(value)
    if why:
        raise argparse.ArgumentTypeError(f"text: {why}")
    return value


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1: {value!r}")
    return int(value)


# --------------------------------------------------------------------------- parser


def _aws_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Global options, accepted before or after the command (the AWS CLI way)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("AWS options")
    group.add_argument(
        "--region",
        default=default(None),
        help="AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region)",
    )
    group.add_argument(
        "--profile", default=default(None), help="AWS profile in ~/.aws/config (default: AWS_PROFILE, else 'default')"
    )
    group.add_argument(
        "--endpoint-url",
        default=default(None),
        help="AWS endpoint, e.g. the local cloud's (default: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, profile)",
    )
    group.add_argument(
        "--stack-name",
        default=default(os.environ.get("KBSYNC_STACK") or DEFAULT_STACK),
        help="the deployed kbsync stack (default: KBSYNC_STACK or 'kbsync')",
    )


def _ds_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--kb", required=required, type=bedrock_id("knowledge base"), help="knowledge base id")
    parser.add_argument("--ds", required=required, type=bedrock_id("data source"), help="data source id")


def _wait_options(parser: argparse.ArgumentParser, timeout: float, wait_flag: bool) -> None:
    if wait_flag:
        parser.add_argument("--wait", action="store_true", help="follow the sync live until it ends; exit by outcome")
    parser.add_argument(
        "--timeout", type=positive_seconds, default=timeout, help=f"stop waiting after SECONDS (default {timeout:g})"
    )
    parser.add_argument(
        "--interval", type=positive_seconds, default=DEFAULT_INTERVAL_S, help="seconds between polls (default 5)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbsync", description=DESCRIPTION, epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"kbsync {__version__}")
    _aws_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _aws_options(common, suppress=True)
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=[common, *parents])

    sync = command("sync", "start a sync of one data source (trigger 'manual')", json_flag)
    _ds_options(sync, required=True)
    sync.add_argument(
        "--reason", type=reason_text, help="free text kept in the job record and alerts (<= 500 printable characters)"
    )
    _wait_options(sync, DEFAULT_WAIT_TIMEOUT_S, wait_flag=True)
    sync.set_defaults(handler=cmd_sync)

    status = command("status", "what is running now, per data source, with live progress; each target's freshness",
                     json_flag)  # fmt: skip
    _ds_options(status, required=False)
    status.add_argument(
        "--freshness",
        action="store_true",
        help="only each registered target's age and lag (with --json: those rows; without: the running jobs)",
    )
    status.set_defaults(handler=cmd_status)

    history = command("history", "the job records of one data source, newest first", json_flag)
    _ds_options(history, required=True)
    history.add_argument("--status", choices=ALL_STATUSES, help="only jobs with this status")
    history.add_argument("--limit", type=positive_int, default=20, help="at most N records (default 20)")
    history.set_defaults(handler=cmd_history)

    show = command("show", "one job in full: statistics, failure reasons, execution, alert", json_flag)
    show.add_argument("job_id", metavar="JOB_ID", type=bedrock_id("ingestion job"), help="ingestion job id")
    _ds_options(show, required=False)
    show.set_defaults(handler=cmd_show)

    rerun = command("rerun", "sync the data source of a job or execution again", json_flag)
    rerun.add_argument("target", metavar="JOB_ID|EXECUTION_ARN", type=job_or_execution)
    _wait_options(rerun, DEFAULT_WAIT_TIMEOUT_S, wait_flag=True)
    rerun.set_defaults(handler=cmd_rerun)

    stop = command("stop", "stop the running job of a data source (recorded STOPPED) and wait for its end", json_flag)
    _ds_options(stop, required=True)
    stop.add_argument("--no-wait", action="store_true", help="return once the stop is requested")
    _wait_options(stop, DEFAULT_STOP_TIMEOUT_S, wait_flag=False)
    stop.set_defaults(handler=cmd_stop)

    drift = command("drift", "compare the files in S3 with the documents the knowledge base reports", json_flag)
    _ds_options(drift, required=True)
    drift.add_argument("--limit", type=positive_int, default=10, help="list at most N files per section (default 10)")
    drift.set_defaults(handler=cmd_drift)

    _alerts_command(command("alerts", "the published alerts as on-call receives them (the stack's inbox)", json_flag))
    _logs_commands(
        command("logs", "a knowledge base's application logs delivered to kbsync (names failed documents)"),
        common,
        json_flag,
    )

    from kbsync.cli import report as night_report  # kbsync report: one night as an HTML page (kbsync/cli/report.py)

    report = command("report", "write one night's job records as one self-contained HTML page (time axis, lanes)")
    report.add_argument("--night", metavar="YYYY-MM-DD", type=night_report.night_argument, help=night_report.NIGHT_HELP)
    report.add_argument("--out", metavar="PATH", help="where to write it (default: ./kbsync-night-<DATE>.html)")
    report.set_defaults(handler=cmd_report)

    _targets_commands(
        command("targets", "the registry of sync targets (nightly and on-upload syncs)"), common, json_flag
    )
    _plugin_commands(commands, common, json_flag)
    return parser


def plugins() -> list[metadata.EntryPoint]:
    """The installed entry points of PLUGIN_GROUP, by name."""
    return sorted(metadata.entry_points(group=PLUGIN_GROUP), key=lambda entry: entry.name)


def _plugin_commands(
    commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser, json_flag: argparse.ArgumentParser
) -> None:
    """Each plugin adds its commands; without the local cloud's, `kbsync local ...` says how to install it."""
    loaded = set()
    for entry in plugins():
        try:
            add_commands = entry.load()
        except ImportError:  # a plugin whose dependencies are gone must not break the other commands
            continue
        add_commands(commands, common, json_flag)
        loaded.add(entry.name)
    if "local" not in loaded:
        local = commands.add_parser("local", help=f"({LOCAL_NOT_INSTALLED})", description=LOCAL_NOT_INSTALLED)
        local.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        local.set_defaults(handler=cmd_local_not_installed)


def _targets_commands(
    targets: argparse.ArgumentParser, common: argparse.ArgumentParser, json_flag: argparse.ArgumentParser
) -> None:
    sub = targets.add_subparsers(dest="targets_command", required=True, metavar="TARGETS_COMMAND")

    def command(name: str, help_text: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common, *parents])

    add = command("add", "register a data source (bucket and prefixes from Bedrock); idempotent", json_flag)
    _ds_options(add, required=True)
    add.add_argument("--no-nightly", action="store_true", help="leave it out of the nightly sync (uploads still sync)")
    add.add_argument(
        "--max-age-hours",
        type=int,
        metavar="N",
        help="alert TARGET_STALE when it has had no successful sync for N hours (default: the stack's "
        "FreshnessMaxAgeHours, 26; kept when re-adding without it)",
    )
    add.set_defaults(handler=cmd_targets_add)
    listing = command("list", "every registered target", json_flag)
    listing.set_defaults(handler=cmd_targets_list)
    remove = command("remove", "unregister a data source (a sync already running finishes)")
    _ds_options(remove, required=True)
    remove.set_defaults(handler=cmd_targets_remove)
    nightly = command("nightly", "turn a target's nightly sync on or off", json_flag)
    _ds_options(nightly, required=True)
    nightly.add_argument("state", choices=("on", "off"), help="on or off")
    nightly.set_defaults(handler=cmd_targets_nightly)


# --------------------------------------------------------------------------- kbsync logs (kbsync/cli/logs.py)


def _logs_commands(
    logs: argparse.ArgumentParser, common: argparse.ArgumentParser, json_flag: argparse.ArgumentParser
) -> None:
    sub = logs.add_subparsers(dest="logs_command", required=True, metavar="LOGS_COMMAND")
    helps = {
        "enable": "deliver the knowledge base's application logs to kbsync's log group (idempotent)",
        "disable": "stop delivering them (delete kbsync's delivery and delivery source; idempotent)",
        "status": "whether they are delivered to kbsync: the delivery source, its deliveries, the destination",
    }
    for name, help_text in helps.items():
        parser = sub.add_parser(name, help=help_text, description=help_text, parents=[common, json_flag])
        parser.add_argument(
            "--knowledge-base-id",
            "--kb",
            dest="kb",
            required=True,
            type=bedrock_id("knowledge base"),
            help="knowledge base id",
        )
        parser.set_defaults(handler=cmd_logs)


def cmd_logs(args: argparse.Namespace, io: Io) -> ExitCode:
    """enable / disable / status of one knowledge base's log delivery (kbsync/cli/logs.py); exit 0 once done (or
    already so), NOT_FOUND (9) to enable on a stack deployed with KnowledgeBaseLogs=off."""
    from kbsync.cli import logs

    clients = clients_of(args)
    stack = stack_of(clients, args)
    cloudwatch, bedrock = clients.client("logs"), clients.client("bedrock-agent")
    if args.logs_command == "status":
        found = logs.read(cloudwatch, bedrock, stack, args.kb, clients.aws_cli)
        io.print(as_json(found.to_dict()) if args.json else logs.status_text(found, stack))
        return ExitCode.OK
    if args.logs_command == "enable":
        found, changed = logs.enable(cloudwatch, bedrock, stack, args.kb, clients.aws_cli)
        document, text = found.to_dict(), logs.enable_text(found, changed)
    else:
        found, changed = logs.disable(cloudwatch, bedrock, stack, args.kb, clients.aws_cli)
        deleted = [delivery["id"] for delivery in found.deliveries]
        document = {**found.emptied().to_dict(), "deletedDeliveries": deleted}
        text = logs.disable_text(found, changed)
    io.print(as_json({**document, "changed": changed}) if args.json else text)
    return ExitCode.OK


# --------------------------------------------------------------------------- kbsync alerts (kbsync/cli/alerts.py)


def _alerts_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--follow", action="store_true", help="wait for new alerts (long polling) until Ctrl-C, --timeout or --max"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the alerts in the inbox (default: each is removed once printed)"
    )
    parser.add_argument(
        "--timeout", type=positive_seconds, metavar="SECONDS", help="stop after SECONDS (default: no limit)"
    )
    parser.add_argument("--max", type=positive_int, dest="max_alerts", metavar="N", help="stop after N alerts")
    parser.set_defaults(handler=cmd_alerts)


def cmd_alerts(args: argparse.Namespace, io: Io) -> ExitCode:
    """Print the alerts waiting in the stack's alert inbox (and, with --follow, those that arrive); exit 0 however
    the read ends (inbox empty, --timeout, --max, Ctrl-C while following)."""
    import json

    from kbsync.cli import alerts

    clients = clients_of(args)
    url = alerts.inbox_url(stack_of(clients, args))
    inbox = url.rstrip("/").rsplit("/", 1)[-1]
    reading = alerts.Reading(follow=args.follow, keep=args.keep, timeout_s=args.timeout, max_alerts=args.max_alerts)
    collected: list[dict[str, Any]] = []

    def on_alert(alert: Any) -> None:
        if args.json and args.follow:
            io.print(json.dumps(alert.to_dict(), sort_keys=True))  # JSON Lines: one alert per line as it arrives
        elif args.json:
            collected.append(alert.to_dict())
        else:
            io.print(alerts.text(alert, io.style) + "\n")
        io.out.flush()

    if args.follow:
        io.note(f"following the alert inbox {inbox} (Ctrl-C stops)")
    outcome, done = alerts.Outcome(), False
    try:
        outcome = alerts.read(clients.client("sqs"), url, reading, on_alert)
        done = True
    except KeyboardInterrupt:
        outcome = alerts.Outcome(shown=len(collected), why="interrupted")
        done = True
        io.note("kbsync: stopped reading alerts (Ctrl-C)")
    finally:
        if args.json and not args.follow and (done or collected):  # never drop alerts already removed
            io.print(as_json(collected))
    if not args.json:
        fate = "left in" if args.keep else "removed from"
        shown = f"{outcome.shown} alert(s) shown, {fate} the inbox {inbox}" if outcome.shown else ""
        if outcome.why == "max":
            shown += f" (--max {args.max_alerts})"
        elif outcome.why == "timeout":
            shown = f"{shown or 'no alert'} (--timeout {args.timeout:g}s)"
        io.print(shown or (f"no alert waiting in the inbox {inbox}" if outcome.why == "empty" else "no alert shown"))
    return ExitCode.OK


# --------------------------------------------------------------------------- commands


class Io:
    """Where a command writes, and how (terminal or piped)."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.style = Style.for_stream(out)

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def note(self, text: str) -> None:
        self.err.write(text + "\n")


def clients_of(args: argparse.Namespace) -> Clients:
    return Clients(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)


def stack_of(clients: Clients, args: argparse.Namespace) -> Stack:
    """The deployed stack; when it is not found, the message names the region (and where that came from) and the
    endpoint kbsync looked in."""
    return load_stack(clients.client("cloudformation"), args.stack_name, clients.where(), clients.is_local())


def services(args: argparse.Namespace) -> service.Services:
    clients = clients_of(args)
    return service.Services(stack_of(clients, args), clients.client, clients.aws_cli)


def cmd_sync(args: argparse.Namespace, io: Io) -> ExitCode:
    svc = services(args)
    started = service.start_sync(svc, args.kb, args.ds, args.reason)
    return _after_start(args, io, svc, started)


def cmd_rerun(args: argparse.Namespace, io: Io) -> ExitCode:
    svc = services(args)
    target = service.rerun_target(svc, args.target, is_execution_arn(args.target))
    started = service.start_sync(svc, target.knowledge_base_id, target.data_source_id, target.reason)
    return _after_start(args, io, svc, started)


def _after_start(args: argparse.Namespace, io: Io, svc: service.Services, started: service.Started) -> ExitCode:
    if not args.json:
        io.print(started_text(started))
    if not args.wait:
        if args.json:
            io.print(as_json({"executionArn": started.execution_arn, "name": started.name, "request": started.request}))
        else:
            io.print(f"  follow it: kbsync status --kb {started.request['knowledgeBaseId']} "
                     f"--ds {started.request['dataSourceId']}")  # fmt: skip
        return ExitCode.OK
    line = ProgressLine(io.out, io.style)

    def on_progress(progress: service.Progress) -> None:
        if not args.json:
            text, key = progress_text(progress)
            line.update(text, progress.status, key)

    def on_round_end(ended: service.Ended) -> None:
        """A gated sync runs one more round when changes arrived during its job: show how the earlier one ended."""
        if not args.json:
            line.close()
            io.print(ended_text(ended, svc.stack, io.style))
            io.print("  changes arrived during that job: the sync gate runs one more round")

    try:
        ended = service.follow(
            svc,
            started.execution_arn,
            on_progress=on_progress,
            interval_s=args.interval,
            timeout_s=args.timeout,
            on_round_end=on_round_end,
        )
    finally:
        line.close()
    if args.json:
        io.print(as_json({**_ended_json(ended), "name": started.name, "request": started.request}))
    else:
        io.print(ended_text(ended, svc.stack, io.style))
    return ended.code


def _ended_json(ended: service.Ended) -> dict[str, Any]:
    document = asdict(ended)
    document["exitCode"] = int(ended.code)
    document.pop("code")
    return document


def cmd_status(args: argparse.Namespace, io: Io) -> ExitCode:
    if bool(args.kb) != bool(args.ds):
        raise CliError("give both --kb and --ds, or neither (everything running)", ExitCode.USAGE)
    svc = services(args)
    if args.freshness:
        fresh = service.freshness(svc, args.kb, args.ds)
        io.print(as_json([asdict(r) for r in fresh]) if args.json else freshness_table(fresh, io.style))
        return ExitCode.OK
    rows = service.status(svc, args.kb, args.ds)
    if args.json:  # the running rows, as scripts read them (a list); the freshness rows: --freshness --json
        io.print(as_json([asdict(r) for r in rows]))
        return ExitCode.OK
    fresh = service.freshness(svc, args.kb, args.ds)  # below the running jobs, when targets are registered
    io.print(status_table(rows, io.style) + ("\n\n" + freshness_table(fresh, io.style) if fresh else ""))
    return ExitCode.OK


def cmd_history(args: argparse.Namespace, io: Io) -> ExitCode:
    svc = services(args)
    rows = service.records.history(svc.ddb, svc.stack.jobs_table, args.kb, args.ds, args.status, args.limit)
    if not rows:  # nothing recorded: say so only if the data source exists at all
        service.check_data_source(svc.bedrock, args.kb, args.ds, svc.aws_cli)
    io.print(as_json(rows) if args.json else history_table(rows, io.style))
    return ExitCode.OK


def cmd_report(args: argparse.Namespace, io: Io) -> ExitCode:
    """Write the night's job records (and the registered targets without a job) as one HTML page; print its path."""
    from kbsync.cli import report

    night = report.Night(args.night or report.last_night())
    svc = services(args)
    records = report.night_records(svc.ddb, svc.stack.jobs_table, night)
    targets_table = svc.stack.outputs.get(registry.TARGETS_OUTPUT)
    registered = service.records.registered(svc.ddb, targets_table) if targets_table else []
    out = args.out or report.default_out(night)
    report.write(out, report.render(records, night, registered, stack=svc.stack.name))
    io.print(f"wrote {out} ({report.summary(records, night)})")
    return ExitCode.OK


def cmd_show(args: argparse.Namespace, io: Io) -> ExitCode:
    if bool(args.kb) != bool(args.ds):
        raise CliError("give both --kb and --ds, or neither", ExitCode.USAGE)
    svc = services(args)
    detail = service.show(svc, args.job_id, args.kb, args.ds)
    if args.json:
        io.print(as_json({"record": detail.record, "ingestionJob": detail.live, "execution": detail.execution}))
    else:
        io.print(show_text(detail, svc.stack, io.style))
    return ExitCode.OK


#: What `kbsync stop` did, as one sentence per StopPlan.action ({what}: 'job X' or 'execution NAME').
STOP_SENTENCES = {
    "stopped job": "stop requested for {what}",
    "already stopping": "{what} is already stopping",
    "stopped execution": "stopped {what}",
}


def stop_sentence(plan: service.StopPlan, kb_id: str, ds_id: str) -> str:
    what = f"job {plan.job_id}" if plan.job_id else f"execution {execution_name_of(plan.execution_arn or '')}"
    template = STOP_SENTENCES.get(plan.action, "{what} had already ended")  # "job already ended (...)"
    return template.format(what=what) + f" (knowledge base {kb_id} / data source {ds_id})"


def cmd_stop(args: argparse.Namespace, io: Io) -> ExitCode:
    svc = services(args)
    plan = service.stop(svc, args.kb, args.ds)
    if not args.json:
        io.print(stop_sentence(plan, args.kb, args.ds))
        if plan.job_id is None:
            io.print("  no ingestion job had started; the catch-all reports the stopped execution (EXECUTION_DIED)")
        elif plan.started_outside:
            io.print(
                "  that job was started outside kbsync: no job record, no alert; kbsync's next sync can start once "
                "Bedrock reports it STOPPED"
            )
    if args.no_wait or plan.execution_arn is None:
        if args.json:
            io.print(as_json(asdict(plan)))
        return ExitCode.OK
    if not args.json:
        io.print(f"  waiting for the workflow to record it (up to {args.timeout:g}s) ...")
    ended = service.wait_ended(svc, plan.execution_arn, interval_s=args.interval, timeout_s=args.timeout)
    if ended.outcome == "STOPPED" and plan.job_id:
        # The workflow cannot tell who stopped the job (its cause says "stopped outside kbsync"): this command did.
        ended = replace(ended, cause=f"stopped by `kbsync stop --kb {args.kb} --ds {args.ds}`")
    if args.json:
        io.print(as_json({**asdict(plan), **_ended_json(ended)}))
    else:
        io.print(ended_text(ended, svc.stack, io.style))
        if ended.outcome == "STOPPED" and plan.job_id:
            io.print(f"  {ended.cause}: the STOPPED alert went out as for any stopped job")
    return ExitCode.OK


def cmd_drift(args: argparse.Namespace, io: Io) -> ExitCode:
    """The files under the data source's S3 prefixes against the documents its knowledge base reports
    (kbsync/cli/drift.py): exit 0 when they match (or it was never synced), DRIFT (14) when they differ. Needs no
    stack: GetDataSource, S3 ListObjectsV2 and ListKnowledgeBaseDocuments only."""
    from kbsync.cli import drift

    clients = clients_of(args)
    bedrock, s3 = clients.client("bedrock-agent"), clients.client("s3")
    location, found = drift.check(bedrock, s3, args.kb, args.ds, clients.aws_cli)
    document = drift.report(location, found, args.limit)
    io.print(as_json(document) if args.json else drift.text(document, io.style))
    return found.exit_code


def target_registry(args: argparse.Namespace) -> registry.Registry:
    clients = clients_of(args)
    stack = stack_of(clients, args)
    table = clients.resource("dynamodb").Table(registry.targets_table_name(stack))
    return registry.Registry(table, clients.client("bedrock-agent"), clients.client("s3"), clients.aws_cli)


def cmd_targets_add(args: argparse.Namespace, io: Io) -> ExitCode:
    added = registry.add(
        target_registry(args), args.kb, args.ds, nightly=not args.no_nightly, max_age_hours=args.max_age_hours
    )
    if args.json:
        io.print(as_json({**added.target.to_dict(), "created": added.created, "changed": added.changed}))
    else:
        io.print(registry.add_message(added))
    return ExitCode.OK


def cmd_targets_list(args: argparse.Namespace, io: Io) -> ExitCode:
    found = targets.list_targets(target_registry(args).table)
    io.print(as_json([t.to_dict() for t in found]) if args.json else targets_table(found, io.style))
    return ExitCode.OK


def cmd_targets_remove(args: argparse.Namespace, io: Io) -> ExitCode:
    registry.remove(target_registry(args), args.kb, args.ds)
    io.print(f"removed {args.kb}/{args.ds}: no new sync starts for it (a sync already running finishes)")
    return ExitCode.OK


def cmd_targets_nightly(args: argparse.Namespace, io: Io) -> ExitCode:
    target = registry.set_nightly(target_registry(args), args.kb, args.ds, args.state == "on")
    io.print(as_json(target.to_dict()) if args.json else f"nightly {args.state}: {registry.describe(target)}")
    return ExitCode.OK


def cmd_local_not_installed(args: argparse.Namespace, io: Io) -> ExitCode:
    raise CliError(LOCAL_NOT_INSTALLED, ExitCode.NOT_INSTALLED)


# --------------------------------------------------------------------------- entry point


def _profile_and_config_file(args: argparse.Namespace) -> tuple[str, str]:
    """The profile kbsync used and the file it is read from, as botocore picks them (for the error lines)."""
    profile = getattr(args, "profile", None) or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
    return profile or "default", os.environ.get("AWS_CONFIG_FILE") or DEFAULT_CONFIG_FILE


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; return its exit code (never raise, never print a traceback)."""
    io = Io(out or sys.stdout, err or sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE
    try:
        return int(args.handler(args, io))
    except CliError as exc:
        io.note(f"kbsync: {exc.message}")
        return int(exc.code)
    except (ClientError, BotoCoreError) as exc:
        mapped = from_aws(exc, *_profile_and_config_file(args))
        io.note(f"kbsync: {mapped.message}")
        return int(mapped.code)
    except KeyboardInterrupt:
        io.note("kbsync: interrupted; anything already started keeps running (see `kbsync status`)")
        return int(ExitCode.INTERRUPTED)
    except ImportError as exc:
        io.note(
            f"kbsync: {exc}: a dependency is missing (`make dev`, or pip install -e ./localcloud for `kbsync local`)"
        )
        return int(ExitCode.INTERNAL)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        io.note(f"kbsync: internal error: {type(exc).__name__}: {exc} (please report it with the command line)")
        return int(ExitCode.INTERNAL)
