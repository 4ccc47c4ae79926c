"""`kbsync local up` and `kbsync local fire-schedule`: the CLI plugin of the local cloud.

Declared in localcloud/pyproject.toml as the ``local`` entry point of the ``kbsync.cli`` group; kbsync/cli/app.py
calls `add_commands` with its sub-command parsers, so the product CLI never imports this package (without it,
`kbsync local` says how to install it and exits 13).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kbsync.cli.app import Io, clients_of, port_number, positive_seconds
from kbsync.cli.errors import CliError, ExitCode
from kbsync.cli.render import as_json

#: `kbsync local up`'s default port: LocalStack's 4566, the local-AWS convention (5000, moto's, is often taken on
#: macOS by AirPlay Receiver).
LOCAL_PORT = 4566
#: `kbsync local up`'s default time scale: real seconds per virtual second.
LOCAL_TIME_SCALE = 0.01

HELP = "the local cloud (moto + kbsync adapters) on this machine"


def add_commands(
    commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser, json_flag: argparse.ArgumentParser
) -> None:
    """Add `local` (up, fire-schedule) to the CLI's commands; `common`/`json_flag` are the CLI's shared options."""
    local = commands.add_parser("local", help=HELP, description=HELP, parents=[common])
    sub = local.add_subparsers(dest="local_command", required=True, metavar="LOCAL_COMMAND")
    up = sub.add_parser(
        "up", parents=[common], help="run the local cloud on 127.0.0.1 with the stack deployed (Ctrl-C stops it)"
    )
    up.add_argument(
        "--port",
        type=port_number,
        default=LOCAL_PORT,
        help=f"port (default {LOCAL_PORT}, the local-AWS convention; 0 = any free port)",
    )
    up.add_argument(
        "--time-scale",
        type=positive_seconds,
        default=LOCAL_TIME_SCALE,
        help=f"real seconds per virtual second (default {LOCAL_TIME_SCALE:g}: 1 virtual second lasts "
        f"{LOCAL_TIME_SCALE * 1000:g} ms, {1 / LOCAL_TIME_SCALE:g}x faster); it shortens waits, retries and Bedrock "
        "jobs, never dates: every timestamp shown is real time",
    )
    up.add_argument("--template", default="template.yaml", help="SAM template to deploy (default template.yaml)")
    up.add_argument("--no-seed", action="store_true", help="do not create the sample knowledge base and documents")
    up.add_argument("--verbose", action="store_true", help="log every request on stderr (quiet by default)")
    up.set_defaults(handler=cmd_local_up)
    fire = sub.add_parser("fire-schedule", help="fire a Scheduler schedule now", parents=[common, json_flag])
    fire.add_argument("schedule", metavar="NAME", help="schedule name")
    fire.add_argument("--group", default="default", help="schedule group (default 'default')")
    fire.add_argument("--force", action="store_true", help="fire even if the schedule is DISABLED")
    fire.set_defaults(handler=cmd_local_fire_schedule)


def cmd_local_up(args: argparse.Namespace, io: Io) -> ExitCode:
    """Serve until Ctrl-C / SIGTERM (prints the exports, the seeded ids and what to try next once ready)."""
    template = Path(args.template)
    if not template.is_file():
        raise CliError(
            f"template {template} not found: run from the kbsync checkout or pass --template", ExitCode.USAGE
        )
    from kbsync_localcloud.server import CannotServe, PortInUse, run_server  # lazily: moto loads in seconds

    try:
        return ExitCode(
            run_server(
                args.port,
                args.time_scale,
                template,
                args.stack_name,
                not args.no_seed,
                out=io.out,
                verbose=args.verbose,
            )
        )
    except PortInUse as exc:
        raise CliError(
            f"port {exc.port} on 127.0.0.1 is in use (another `kbsync local up`, a LocalStack?): pass --port N "
            f"(0 = any free port), or stop what listens on it (`ss -ltnp 'sport = :{exc.port}'`)",
            ExitCode.PORT_IN_USE,
        ) from exc
    except CannotServe as exc:
        raise CliError(f"{exc}: pass another --port (0 = any free port)", ExitCode.USAGE) from exc


def cmd_local_fire_schedule(args: argparse.Namespace, io: Io) -> ExitCode:
    """Against a running `kbsync local up` (--endpoint-url / AWS_ENDPOINT_URL), else in this process's local cloud."""
    from moto.core.exceptions import JsonRESTError  # lazily, as above

    from kbsync_localcloud import scheduler

    endpoint = clients_of(args).endpoint_for("scheduler")  # --endpoint-url, AWS_ENDPOINT_URL(_SCHEDULER), config
    try:
        if endpoint:
            fired = scheduler.fire_schedule_remote(endpoint, args.schedule, args.group, args.force)
        else:
            fired = scheduler.fire_schedule(args.schedule, args.group, force=args.force).to_dict()
    except scheduler.ScheduleDisabled as exc:
        raise CliError(str(exc).replace("force=True (--force)", "--force"), ExitCode.USAGE) from exc
    except (RuntimeError, ValueError, JsonRESTError) as exc:
        text = getattr(exc, "message", None) or str(exc)
        raise CliError(f"{text}: list schedules with `aws scheduler list-schedules`", ExitCode.NOT_FOUND) from exc
    io.print(as_json(fired) if args.json else f"fired schedule {args.group}/{args.schedule}: " + ", ".join(
        f"{k} {v}" for k, v in fired.items()))  # fmt: skip
    return ExitCode.OK
