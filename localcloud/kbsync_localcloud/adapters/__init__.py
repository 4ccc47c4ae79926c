"""Adapters that make moto 5.2.5 behave like AWS where kbsync needs it.

Each adapter is its own module exposing:

- ``install() -> None``: apply the patch (idempotent, process-wide, works for decorator and server mode);
- ``verify_moto_internals() -> None``: raise ``MotoInternalsChanged`` with a clear message if the moto
  internals the adapter relies on are not what it expects (run by tests/localcloud/test_moto_internals.py).

``ADAPTER_MODULES`` is the install order.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ADAPTER_MODULES: tuple[str, ...] = (
    "kbsync_localcloud.adapters.scaled_time",
    # DynamoDB item operations one at a time (moto's tables are dicts that threads would change mid-Query).
    "kbsync_localcloud.adapters.dynamodb_serial",
    "kbsync_localcloud.adapters.jsonpath_cache",
    "kbsync_localcloud.adapters.asl_program_cache",
    "kbsync_localcloud.adapters.aws_sdk_tasks",
    "kbsync_localcloud.adapters.inprocess_lambda",
    "kbsync_localcloud.adapters.execution_events",
    "kbsync_localcloud.adapters.stop_is_final",
    "kbsync_localcloud.adapters.context_object",
    "kbsync_localcloud.adapters.bedrock_ingestion",
    "kbsync_localcloud.adapters.cfn_state_machines",
    "kbsync_localcloud.adapters.eventbridge_targets",
    "kbsync_localcloud.adapters.s3_eventbridge",
    "kbsync_localcloud.adapters.cfn_resources",
    # CloudFormation gaps (Scheduler schedules, layer versions, function layers): also needed by a plain create_stack.
    "kbsync_localcloud.deploy",
    # AWS's hard limits with AWS's errors (payloads, history, names, Invoke, SNS, PutEvents sources).
    "kbsync_localcloud.adapters.aws_limits",
    # The callback pattern: spent tokens (TaskTimedOut), SendTask* limits, States.HeartbeatTimeout (after aws_limits,
    # whose ErrorEquals wrapper it wraps).
    "kbsync_localcloud.adapters.task_tokens",
    # CloudWatch Logs subscription filters: patterns applied, Lambda deliveries asynchronous and in-process.
    "kbsync_localcloud.adapters.log_subscriptions",
    # SNS Publish with MessageStructure=json: checked at Publish, each protocol's entry delivered (kbsync's alerts).
    "kbsync_localcloud.adapters.sns_message_structure",
    # CloudWatch Logs' metric extraction: the EMF lines a handler prints become CloudWatch metrics.
    "kbsync_localcloud.adapters.emf_metrics",
    # CloudWatch alarms: created INSUFFICIENT_DATA, evaluated (AlarmEvaluator, started with the local cloud), every
    # state change told to EventBridge ("CloudWatch Alarm State Change").
    "kbsync_localcloud.adapters.alarm_evaluator",
)


class MotoInternalsChanged(RuntimeError):
    """The pinned moto's internals differ from what an adapter was written against."""


def adapter_modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in ADAPTER_MODULES]


def install_all() -> None:
    for module in adapter_modules():
        module.install()
