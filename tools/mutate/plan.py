"""What `make mutate` mutates, and which test files can catch a mutant of each file (cheapest first: with ``-x`` the
first failing test ends the run, so a mutant that a static test catches never pays for the local cloud).

A test file is listed for a source file when it exercises that file: a handler's unit tests, the static gates that
read a state machine, the promise tests, and the local-cloud suites that execute the real ASL. Listing a test that
cannot catch a mutant costs time only; missing one that could would report a false survivor.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The static gates that read every state machine.
ASL_STATIC = (
    "tests/static/test_retriers.py",
    "tests/static/test_ingestion_sync_static.py",
    "tests/static/test_sdk_integrations.py",
    "tests/promises/test_asl_promises.py",
    "tests/unit/test_log_correlation.py",  # every lambda:invoke state sends executionArn (the log correlation id)
)


#: Each setting's default is the one README.md's configuration tables list (the functions' *_settings.py).
CONFIG_TABLE = "tests/static/test_configuration_table.py"


@dataclass(frozen=True)
class Target:
    path: str
    tests: tuple[str, ...]
    #: Innermost function/class names to mutate (None: the whole file).
    functions: frozenset[str] | None = None


#: The tests of the pacer's policy (functions/pacer; the item and its transitions: schemas/kbsync_pacer.py).
PACER_POLICY_TESTS = (
    "tests/unit/test_item_contracts.py",
    "tests/promises/test_pacer_promises.py",
    "tests/unit/test_trigger_pacer_and_plan.py",
    "tests/unit/test_pacer_queue_refresh.py",  # slow (an hour of waiting, simulated): last
)
#: The tests of the sync gate's item (schemas/kbsync_gate.py), run by functions/sync_gate and functions/upload_router.
GATE_TESTS = (
    "tests/unit/test_trigger_gate.py",
    "tests/contracts/test_consumers.py",
    "tests/unit/test_trigger_upload_router.py",
    "tests/unit/test_fanout_plan_paging.py",  # a claimed target is a valid skip-if-busy gate input
    "tests/unit/test_trigger_catch_all.py",
    "tests/hostile/test_trigger_payloads.py",
)
#: The tests of the nightly plan (functions/nightly_plan).
NIGHTLY_PLAN_TESTS = (
    "tests/unit/test_fanout_plan_paging.py",
    "tests/unit/test_trigger_pacer_and_plan.py",
    "tests/unit/test_bedrock_history.py",
    "tests/unit/test_item_contracts.py",
    "tests/triggers/test_triggers_static.py",
    "tests/hostile/test_trigger_payloads.py",
)
#: The tests of the upload router (functions/upload_router).
FRESHNESS_TESTS = ("tests/unit/test_freshness.py", "tests/static/test_alert_catalogue.py")
ALARM_TESTS = ("tests/alarms/test_alarm_relay_units.py", "tests/static/test_alert_catalogue.py")
UPLOAD_ROUTER_TESTS = (
    "tests/unit/test_freshness.py",  # the change stamps (lastChangeAt, pendingSince)
    "tests/unit/test_trigger_upload_router.py",
    "tests/contracts/test_consumers.py",
    "tests/unit/test_item_contracts.py",
    "tests/triggers/test_triggers_static.py",
    "tests/hostile/test_trigger_payloads.py",
)
#: The tests that exercise the pacer item (kbsync_pacer), cheapest first.
PACER_TESTS = (
    "tests/unit/test_shared_core.py",
    "tests/unit/test_item_contracts.py",
    "tests/promises/test_pacer_promises.py",
    "tests/unit/test_trigger_pacer_and_plan.py",
    "tests/unit/test_trigger_catch_all.py",
    "tests/unit/test_pacer_queue_refresh.py",  # slow (an hour of waiting, simulated): last
)

ASL_TARGETS = (
    Target(
        "statemachines/ingestion-sync.asl.json",
        (
            *ASL_STATIC,
            "tests/promises/test_workflow_promises.py",
            "tests/promises/test_record_write_promises.py",
            "tests/workflow/test_ingestion_sync_paths.py",
            "tests/static/test_push_completion_template.py",
            "tests/workflow/test_push_paths.py",  # same workflow suite run: push completion's paths
        ),
    ),
    Target(
        "statemachines/sync-gate.asl.json",
        (
            *ASL_STATIC,
            "tests/triggers/test_triggers_static.py",
            "tests/triggers/test_triggers_e2e.py",
            "tests/triggers/test_gate_faults_e2e.py",  # the gate's outputs, start token, lost gate, pacer faults
        ),
    ),
    Target(
        "statemachines/nightly-fanout.asl.json",
        (
            *ASL_STATIC,
            "tests/triggers/test_triggers_static.py",
            "tests/triggers/test_triggers_e2e.py",
            "tests/triggers/test_fanout_faults_e2e.py",  # a dead gate, a dead lane, hand-offs and a dead hand-off
        ),
    ),
)

JOB_WATCH_TESTS = ("tests/unit/test_job_watch.py", "tests/contracts/test_consumers.py")
JOB_EVENTS_TESTS = ("tests/unit/test_job_events.py",)

PYTHON_TARGETS = (
    # The trigger functions: each module where its logic or data access is written (handlers and settings are
    # covered by the same files' handler and settings tests).
    Target("functions/pacer/pacer_logic.py", PACER_POLICY_TESTS),
    Target("functions/pacer/pacer_data.py", ("tests/unit/test_trigger_pacer_and_plan.py", *PACER_POLICY_TESTS[:2])),
    Target("functions/pacer/pacer_settings.py", ("tests/unit/test_trigger_pacer_and_plan.py", CONFIG_TABLE)),
    Target(
        "functions/pacer/app.py",
        (
            "tests/contracts/test_consumers.py",
            "tests/unit/test_trigger_pacer_and_plan.py",
            "tests/unit/test_metrics_emf.py",  # the StartThrottles metric of a refused slot
        ),
    ),
    Target("functions/sync_gate/sync_gate_logic.py", ("tests/unit/test_trigger_gate.py",)),
    Target("functions/sync_gate/sync_gate_settings.py", ("tests/unit/test_trigger_gate.py", CONFIG_TABLE)),
    Target("functions/sync_gate/app.py", ("tests/contracts/test_consumers.py", "tests/unit/test_trigger_gate.py")),
    Target("functions/nightly_plan/nightly_plan_logic.py", NIGHTLY_PLAN_TESTS),
    Target("functions/nightly_plan/nightly_plan_data.py", NIGHTLY_PLAN_TESTS),
    Target("functions/nightly_plan/nightly_plan_settings.py", ("tests/unit/test_fanout_plan_paging.py", CONFIG_TABLE)),
    Target(
        "functions/nightly_plan/app.py",
        ("tests/contracts/test_consumers.py", "tests/unit/test_fanout_plan_paging.py", *NIGHTLY_PLAN_TESTS[-1:]),
    ),
    Target("functions/upload_router/upload_router_logic.py", UPLOAD_ROUTER_TESTS),
    Target("functions/upload_router/upload_router_data.py", UPLOAD_ROUTER_TESTS),
    Target(
        "functions/upload_router/upload_router_settings.py", ("tests/unit/test_trigger_upload_router.py", CONFIG_TABLE)
    ),
    Target("functions/upload_router/app.py", UPLOAD_ROUTER_TESTS),
    Target("schemas/kbsync_gate.py", GATE_TESTS),
    # The shared core (schemas/kbsync_*.py): each rule where it is written.
    Target("schemas/kbsync_pacer.py", PACER_TESTS),
    Target(
        "schemas/kbsync_keys.py",
        (
            "tests/unit/test_shared_core.py",
            "tests/static/test_one_definition.py",
            "tests/unit/test_item_contracts.py",
            "tests/unit/test_trigger_gate.py",
            "tests/unit/test_fanout_plan_paging.py",
            "tests/unit/test_dead_execution_alert_promises.py",
            "tests/unit/test_reconciler.py",
        ),
    ),
    Target(
        "schemas/kbsync_names.py",
        (
            "tests/unit/test_shared_core.py",
            "tests/unit/test_trigger_upload_router.py",
            "tests/unit/test_dead_execution_alert_promises.py",
            "tests/cli/test_cli_units.py",
        ),
    ),
    Target(
        "schemas/kbsync_values.py",
        (
            "tests/unit/test_shared_core.py",
            "tests/unit/test_trigger_upload_router.py",
            "tests/unit/test_dead_execution_alert_promises.py",
            "tests/unit/test_trigger_registry.py",
        ),
    ),
    Target(
        "kbsync/targets.py",
        (
            "tests/unit/test_trigger_registry.py",
            "tests/unit/test_manual_sync_request.py",  # request_sync and the gate's answer (Stubber)
            "tests/unit/test_item_contracts.py",
            "tests/cli/test_cli_units.py",
            "tests/cli/test_freshness_status.py",
        ),
    ),
    Target(
        "functions/send_alert/app.py",
        (
            "tests/promises/test_alert_promises.py",
            "tests/unit/test_fn_send_alert.py",
            "tests/unit/test_send_alert_message_promises.py",
            "tests/unit/test_outcome_and_causes_promises.py",
            "tests/unit/test_chat_notification.py",  # the chat notification's facts
            "tests/hostile/test_alert_formatter.py",
            "tests/runbooks/test_runbooks_static.py",
        ),
    ),
    Target(
        "functions/get_job_status/app.py",
        (
            "tests/unit/test_fn_get_job_status.py",
            "tests/unit/test_job_status_settings.py",
            "tests/unit/test_metrics_emf.py",
        ),
    ),
    Target(
        "functions/catch_all/app.py",
        (
            "tests/unit/test_trigger_catch_all.py",
            "tests/unit/test_reconciler.py",
            "tests/unit/test_dead_execution_alert_promises.py",
            "tests/unit/test_chat_notification.py",  # its chat notification
        ),
    ),
    Target(
        "functions/reconciler/app.py",
        (
            "tests/unit/test_reconciler.py",
            "tests/unit/test_dead_execution_alert_promises.py",
            "tests/unit/test_chat_notification.py",  # its chat notification
        ),
    ),
    # The freshness watch: the check, the rules it shares with `kbsync status`, the router's change stamps.
    Target("functions/freshness/freshness_logic.py", FRESHNESS_TESTS),
    Target("functions/freshness/freshness_data.py", FRESHNESS_TESTS),
    Target("functions/freshness/freshness_settings.py", ("tests/unit/test_freshness.py", CONFIG_TABLE)),
    Target("functions/freshness/app.py", FRESHNESS_TESTS),
    Target("schemas/kbsync_freshness.py", (*FRESHNESS_TESTS, "tests/cli/test_freshness_status.py")),
    # The alarm relay: which state change sends what, its wording and attributes (units), the template's alarms.
    Target("functions/alarm_relay/alarm_relay_logic.py", ALARM_TESTS),
    Target("functions/alarm_relay/app.py", ALARM_TESTS),
    Target(
        "schemas/kbsync_causes.py",
        (
            "tests/unit/test_clean_causes.py",
            "tests/unit/test_outcome_and_causes_promises.py",
            "tests/unit/test_reconciler.py",
        ),
    ),
    Target(
        "schemas/kbsync_jobs.py",
        (
            "tests/unit/test_outcome_and_causes_promises.py",
            "tests/unit/test_reconciler.py",
            "tests/unit/test_dead_execution_alert_promises.py",
            "tests/unit/test_trigger_catch_all.py",
            "tests/unit/test_item_contracts.py",  # the alert marker and its TTL
        ),
    ),
    Target(
        "schemas/kbsync_alerts.py",
        (
            "tests/static/test_alert_catalogue.py",
            "tests/unit/test_send_alert_message_promises.py",  # message attributes, the offered gate command
            "tests/unit/test_chat_notification.py",
        ),
    ),
    # The metrics (their names, units and dimensions; emitted by get_job_status, pacer and sync_gate).
    Target("schemas/kbsync_metrics.py", ("tests/unit/test_metrics_emf.py",)),
    Target(
        "kbsync/cli/outcome.py",
        (
            "tests/cli/test_cli_units.py",
            "tests/unit/test_outcome_and_causes_promises.py",
            "tests/cli/test_sync_names_its_job.py",
        ),
    ),
    Target(
        "functions/validate_request/app.py",
        ("tests/unit/test_fn_validate_request.py", "tests/hostile/test_sync_requests.py"),
    ),
    Target(
        "schemas/kbsync_contracts.py",
        (
            "tests/unit/test_contract_limits.py",
            "tests/unit/test_contracts.py",
            "tests/unit/test_fn_validate_request.py",
            "tests/unit/test_fn_send_alert.py",
            "tests/unit/test_trigger_catch_all.py",
            "tests/hostile/test_sync_requests.py",
            "tests/hostile/test_alert_formatter.py",
        ),
    ),
    # Push completion (docs/push-completion.md): the job watch (wait, sweep), the log events, the shared rules.
    Target("functions/job_watch/job_watch_logic.py", JOB_WATCH_TESTS),
    Target("functions/job_watch/job_watch_settings.py", (*JOB_WATCH_TESTS, CONFIG_TABLE)),
    Target("functions/job_watch/app.py", (*JOB_WATCH_TESTS, "tests/unit/test_log_correlation.py")),
    Target("functions/job_events/job_events_logic.py", JOB_EVENTS_TESTS),
    Target("functions/job_events/app.py", (*JOB_EVENTS_TESTS, "tests/unit/test_log_correlation.py")),
    Target(
        "schemas/kbsync_documents.py",
        (
            "tests/unit/test_documents_core.py",
            *JOB_EVENTS_TESTS,
            "tests/unit/test_send_alert_message_promises.py",
            "tests/cli/test_show_documents.py",
        ),
    ),
    # tests/unit/test_documents_core.py holds the unit tests of the shared core: kbsync_wake's and kbsync_polling's too.
    Target("schemas/kbsync_wake.py", ("tests/unit/test_documents_core.py", *JOB_WATCH_TESTS, *JOB_EVENTS_TESTS)),
    Target(
        "schemas/kbsync_polling.py",
        ("tests/unit/test_documents_core.py", "tests/unit/test_fn_get_job_status.py", *JOB_WATCH_TESTS),
    ),
    Target("kbsync/cli/logs.py", ("tests/cli/test_logs_command.py",)),
)
