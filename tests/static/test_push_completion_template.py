"""Push completion in the template and the ingestion-sync definition (docs/push-completion.md), pinned statically.

What must hold whatever the functions do: the knowledge base log resources exist only with KnowledgeBaseLogs=on
(and nothing deployed with it off names them), the subscription filter passes exactly the job status and document
failure events, every new IAM grant is the narrowest AWS allows, the log groups keep their retention, and the new
states leave the poll path exactly as it was: with completion off, no Choice routes anywhere it did not route before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import jsonschema
import pytest
from kbsync_localcloud.adapters.log_subscriptions import pattern_matcher

from tests.helpers.sam import definition_file, load_template, transformed_template

REPO = Path(__file__).resolve().parents[2]
CONDITION = "UsesKnowledgeBaseLogs"
#: Everything KnowledgeBaseLogs=on adds to the SAM source (JobWatchFunction is always there: the ASL names it).
CONDITIONAL = {
    "JobEventsFunction",
    "JobEventsLogGroup",
    "KnowledgeBaseLogGroup",
    "KnowledgeBaseLogDeliveryPolicy",
    "KnowledgeBaseLogDestination",
    "JobEventsPermission",
    "JobEventsSubscription",
    "JobWatchScheduleRole",
    "JobWatchSchedule",
}
FILTER_PATTERN = (
    '{ ($.event_type = "StartIngestionJob.StatusChanged") || '
    '($.event_type = "StartIngestionJob.ResourceStatusChanged" && ($.event.status = "RESOURCE_IGNORED" || '
    '$.event.status = "EMBEDDING_FAILED" || $.event.status = "INDEXING_FAILED" || '
    '$.event.status = "DELETION_FAILED" || $.event.status = "METADATA_UPDATE_FAILED")) }'
)
PASSING_DOCUMENT_STATUSES = (
    "RESOURCE_IGNORED",
    "EMBEDDING_FAILED",
    "INDEXING_FAILED",
    "DELETION_FAILED",
    "METADATA_UPDATE_FAILED",
)
#: The final FAILED repeats a stage failure (docs/push-completion.md); progress and success carry no reason.
FILTERED_DOCUMENT_STATUSES = (
    "FAILED",
    "INDEXED",
    "DELETED",
    "PARTIALLY_INDEXED",
    "EMBEDDING_STARTED",
    "SCHEDULED_FOR_INGESTION",
    "INDEXING_COMPLETED",
)
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


@cache
def _source_json() -> str:
    return json.dumps(load_template())


def source() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_source_json())
    return loaded


@cache
def _deployed_json() -> str:
    return json.dumps(transformed_template())


def deployed() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_deployed_json())
    return loaded


def resources() -> dict[str, Any]:
    found: dict[str, Any] = source()["Resources"]
    return found


def states() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(definition_file(source()).read_text(encoding="utf-8"))
    found: dict[str, Any] = definition["States"]
    return found


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "schemas" / name).read_text(encoding="utf-8"))
    return loaded


# ------------------------------------------------------------------ only under the condition


def test_the_condition_is_the_parameter_being_on() -> None:
    template = source()
    assert template["Conditions"][CONDITION] == {"Fn::Equals": [{"Ref": "KnowledgeBaseLogs"}, "on"]}
    parameter = template["Parameters"]["KnowledgeBaseLogs"]
    assert (parameter["Type"], parameter["Default"], sorted(parameter["AllowedValues"])) == (
        "String",
        "off",
        ["off", "on"],
    )


def test_the_knowledge_base_log_resources_exist_only_under_the_condition() -> None:
    conditional = {name for name, resource in resources().items() if resource.get("Condition") == CONDITION}
    assert conditional == CONDITIONAL
    for always in ("JobWatchFunction", "JobWatchLogGroup", "IngestionSyncStateMachine"):
        assert "Condition" not in resources()[always], always


def test_what_sam_generates_for_the_conditional_function_keeps_the_condition() -> None:
    generated = {
        name: resource.get("Condition")
        for name, resource in deployed()["Resources"].items()
        if name.startswith("JobEventsFunction")
    }
    assert set(generated) >= {"JobEventsFunction", "JobEventsFunctionRole", "JobEventsFunctionEventInvokeConfig"}
    assert set(generated.values()) == {CONDITION}


def _references(node: Any) -> Iterator[str]:
    """Logical ids a template fragment names: Ref, Fn::GetAtt and the ${Id} / ${Id.Attr} of Fn::Sub."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            yield str(node["Ref"])
        elif set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            yield str(target[0] if isinstance(target, list) else target.split(".")[0])
        elif set(node) == {"Fn::Sub"}:
            text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                if name not in variables:
                    yield name.split(".")[0]
            yield from _references(variables)
        else:
            for value in node.values():
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def test_nothing_deployed_with_the_parameter_off_names_a_conditional_resource() -> None:
    """A Ref from an unconditional resource or output to a conditional one fails the deployment with logs off."""
    template = deployed()
    conditional = {name for name, r in template["Resources"].items() if r.get("Condition") == CONDITION}
    unconditional = {name: r for name, r in template["Resources"].items() if "Condition" not in r}
    unconditional |= {f"Outputs.{name}": o for name, o in template["Outputs"].items() if "Condition" not in o}
    found = {(name, ref) for name, node in unconditional.items() for ref in _references(node) if ref in conditional}
    assert found == set()


def test_control_a_reference_to_a_conditional_resource_is_found() -> None:
    node = {"Environment": {"Variables": {"X": {"Fn::Sub": "${KnowledgeBaseLogGroup}-${AWS::Region}"}}}}
    assert set(_references(node)) == {"KnowledgeBaseLogGroup", "AWS::Region"}


def test_the_outputs_of_the_conditional_resources_are_conditional() -> None:
    outputs = source()["Outputs"]
    for name in ("KnowledgeBaseLogDestinationArn", "KnowledgeBaseLogGroupName", "JobWatchScheduleName"):
        assert outputs[name]["Condition"] == CONDITION, name
    assert outputs["KnowledgeBaseLogDestinationArn"]["Value"] == {"Fn::GetAtt": ["KnowledgeBaseLogDestination", "Arn"]}
    assert outputs["KnowledgeBaseLogGroupName"]["Value"] == {"Ref": "KnowledgeBaseLogGroup"}


# ------------------------------------------------------------------ the subscription filter


def _job_event(status: str) -> str:
    return json.dumps(
        {
            "event_timestamp": 1718683433639,
            "event": {
                "ingestion_job_id": "JOB1234567",
                "data_source_id": "DS12345678",
                "ingestion_job_status": status,
                "knowledge_base_arn": "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345678",
                "resource_statistics": {"number_of_resources_failed": 0},
            },
            "event_version": "1.0",
            "event_type": "StartIngestionJob.StatusChanged",
            "level": "INFO",
        }
    )


def _document_event(status: str) -> str:
    return json.dumps(
        {
            "event_timestamp": 1718677342332,
            "event": {
                "ingestion_job_id": "JOB1234567",
                "data_source_id": "DS12345678",
                "knowledge_base_arn": "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345678",
                "document_location": {"type": "S3", "s3_location": {"uri": "s3://bucket/docs/a.pdf"}},
                "status": status,
                "status_reasons": ["file too large"],
                "chunk_statistics": {"ignored": 0, "created": 0, "failed_to_create": 1},
            },
            "event_version": "1.0",
            "event_type": "StartIngestionJob.ResourceStatusChanged",
            "level": "ERROR",
        }
    )


def test_the_filter_pattern_is_pinned_and_fits_the_api() -> None:
    subscription = resources()["JobEventsSubscription"]["Properties"]
    assert subscription["FilterPattern"] == FILTER_PATTERN
    assert subscription["LogGroupName"] == {"Ref": "KnowledgeBaseLogGroup"}
    assert subscription["DestinationArn"] == {"Fn::GetAtt": ["JobEventsFunction", "Arn"]}
    shape = (
        botocore.session.get_session().get_service_model("logs").operation_model("PutSubscriptionFilter").input_shape
    )
    assert shape is not None
    assert len(FILTER_PATTERN) <= shape.members["filterPattern"].metadata["max"]


@pytest.mark.parametrize(
    "message",
    [
        *(_job_event(s) for s in ("COMPLETE", "FAILED", "STOPPED", "INGESTION_JOB_STARTED", "CRAWLING_COMPLETED")),
        *(_document_event(s) for s in PASSING_DOCUMENT_STATUSES),
    ],
)
def test_job_statuses_and_document_failures_pass(message: str) -> None:
    assert pattern_matcher(FILTER_PATTERN)(message)


@pytest.mark.parametrize(
    "message",
    [
        *(_document_event(s) for s in FILTERED_DOCUMENT_STATUSES),
        json.dumps({"event_type": "SomethingElse.StatusChanged", "event": {"status": "EMBEDDING_FAILED"}}),
        "not json: StartIngestionJob.StatusChanged",
    ],
)
def test_document_progress_and_other_messages_are_filtered_out(message: str) -> None:
    assert not pattern_matcher(FILTER_PATTERN)(message)


# ------------------------------------------------------------------ IAM: least privilege


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _grants(role: dict[str, Any]) -> dict[str, Any]:
    """action -> its Resource, for every statement of a role (each action granted once)."""
    grants: dict[str, Any] = {}
    for statement in _statements(role):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action not in grants, f"{action} granted twice"
            grants[action] = statement["Resource"]
    return grants


KNOWLEDGE_BASES = {
    "Fn::If": [
        "HasKnowledgeBaseArns",
        {"Ref": "KnowledgeBaseArns"},
        [{"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:knowledge-base/*"}],
    ]
}
TABLE = {"Fn::GetAtt": ["JobsTable", "Arn"]}
DEAD_LETTERS = {"Fn::GetAtt": ["TriggersDeadLetterQueue", "Arn"]}


def test_job_watch_holds_exactly_its_actions_on_their_arns() -> None:
    assert _grants(deployed()["Resources"]["JobWatchFunctionRole"]) == {
        "dynamodb:Query": {"Fn::Sub": "${JobsTable.Arn}/index/byStatus"},
        "dynamodb:UpdateItem": TABLE,
        "bedrock:GetIngestionJob": KNOWLEDGE_BASES,
        # no resource type exists for these (Service Authorization Reference): "*" is the only grant that works
        "states:SendTaskSuccess": "*",
        "states:SendTaskHeartbeat": "*",
        "sqs:SendMessage": DEAD_LETTERS,  # its asynchronous failures (EventInvokeConfig OnFailure)
    }


def test_job_events_holds_exactly_its_actions_on_their_arns() -> None:
    assert _grants(deployed()["Resources"]["JobEventsFunctionRole"]) == {
        "dynamodb:Query": {"Fn::Sub": "${JobsTable.Arn}/index/byJobId"},
        "dynamodb:GetItem": TABLE,
        "dynamodb:UpdateItem": TABLE,
        "states:SendTaskSuccess": "*",
        "sqs:SendMessage": DEAD_LETTERS,
    }


def test_a_star_resource_goes_only_with_the_task_token_actions() -> None:
    """Step Functions' SendTask* are the only new actions without resource-level permissions."""
    for role in ("JobWatchFunctionRole", "JobEventsFunctionRole", "JobWatchScheduleRole"):
        for statement in _statements(deployed()["Resources"][role]):
            if statement["Resource"] == "*":
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert set(actions) <= {"states:SendTaskSuccess", "states:SendTaskHeartbeat"}, (role, statement)


def test_the_state_machine_may_invoke_job_watch_and_nothing_else_new() -> None:
    policies = resources()["IngestionSyncStateMachine"]["Properties"]["Policies"]
    invoked = [p["LambdaInvokePolicy"]["FunctionName"] for p in policies if "LambdaInvokePolicy" in p]
    assert {"Ref": "JobWatchFunction"} in invoked
    text = json.dumps(policies)
    assert "states:SendTask" not in text and "JobEventsFunction" not in text


def test_the_schedule_role_invokes_job_watch_only() -> None:
    role = deployed()["Resources"]["JobWatchScheduleRole"]
    assert _grants(role) == {
        "lambda:InvokeFunction": {"Fn::GetAtt": ["JobWatchFunction", "Arn"]},
        "sqs:SendMessage": DEAD_LETTERS,
    }
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_only_cloudwatch_logs_from_the_knowledge_base_log_group_may_invoke_job_events() -> None:
    permission = resources()["JobEventsPermission"]["Properties"]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "JobEventsFunction"},
        "Principal": "logs.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": ["KnowledgeBaseLogGroup", "Arn"]},
        "SourceAccount": {"Ref": "AWS::AccountId"},
    }
    assert resources()["JobEventsSubscription"]["DependsOn"] == "JobEventsPermission"


def _policy_document() -> dict[str, Any]:
    """The log group's resource policy with its ${...} replaced by recognisable values."""
    text = resources()["KnowledgeBaseLogDeliveryPolicy"]["Properties"]["PolicyDocument"]["Fn::Sub"]
    values = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
    values["KnowledgeBaseLogGroup"] = "/aws/vendedlogs/bedrock/knowledge-base/APPLICATION_LOGS/kbsync"
    loaded: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: values[m[1]], text))
    return loaded


def test_only_the_log_delivery_service_may_write_to_the_knowledge_base_log_group() -> None:
    """https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-and-resource-policy.html"""
    (statement,) = _policy_document()["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == (
        "arn:aws:logs:us-east-1:123456789012:log-group:"
        "/aws/vendedlogs/bedrock/knowledge-base/APPLICATION_LOGS/kbsync:log-stream:*"
    )
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:logs:us-east-1:123456789012:*"},
    }


# ------------------------------------------------------------------ log groups, destination, schedule


def test_the_knowledge_base_log_group_is_vended_and_kept_for_its_retention() -> None:
    parameters = source()["Parameters"]
    group = resources()["KnowledgeBaseLogGroup"]["Properties"]
    assert group["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/")
    assert group["RetentionInDays"] == {"Ref": "KnowledgeBaseLogRetentionDays"}
    retention = parameters["KnowledgeBaseLogRetentionDays"]
    assert retention["AllowedValues"] == parameters["LogRetentionDays"]["AllowedValues"]  # what CloudWatch accepts
    assert retention["Default"] in retention["AllowedValues"]
    for name in ("JobWatchLogGroup", "JobEventsLogGroup"):
        props = resources()[name]["Properties"]
        function = name.replace("LogGroup", "Function")
        assert props == {
            "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{function}}}"},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
        }


def test_the_delivery_destination_is_that_log_group_in_json() -> None:
    destination = resources()["KnowledgeBaseLogDestination"]
    props = destination["Properties"]
    assert props["OutputFormat"] == "json"
    assert props["DestinationResourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${KnowledgeBaseLogGroup}"
    }
    assert destination["DependsOn"] == "KnowledgeBaseLogDeliveryPolicy"


def test_the_sweep_schedule_sends_the_contract_input_with_retries_and_dead_letters() -> None:
    schedule = resources()["JobWatchSchedule"]["Properties"]
    target = schedule["Target"]
    assert schedule["ScheduleExpression"] == {"Ref": "JobWatchScheduleExpression"}
    assert source()["Parameters"]["JobWatchScheduleExpression"]["Default"] == "rate(1 minute)"
    assert target["Arn"] == {"Fn::GetAtt": ["JobWatchFunction", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["JobWatchScheduleRole", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": DEAD_LETTERS}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    document = json.loads(target["Input"])
    assert document == {"source": "kbsync.job-watch-schedule", "scheduledTime": "<aws.scheduler.scheduled-time>"}
    jsonschema.validate(document, schema("job-watch-input.schema.json"))


def test_a_heartbeat_can_never_outlast_the_timeout() -> None:
    """Step Functions requires HeartbeatSeconds below TimeoutSeconds: the parameters' bounds guarantee it."""
    parameters = source()["Parameters"]
    heartbeat, timeout = parameters["WaitHeartbeatSeconds"], parameters["WaitTimeoutSeconds"]
    assert heartbeat["MaxValue"] < timeout["MinValue"]
    assert heartbeat["Default"] < timeout["Default"] <= 172800  # the execution's own timeout
    sweep_seconds = 60  # rate(1 minute): a heartbeat at every run
    assert heartbeat["MinValue"] >= 2 * sweep_seconds


# ------------------------------------------------------------------ the state machine


def test_initialize_reads_the_new_configuration_like_the_rest() -> None:
    config = states()["Initialize"]["Parameters"]["config"]
    assert config["completion"] == "${KnowledgeBaseLogs}"
    assert config["waitHeartbeatSeconds.$"] == "States.StringToJson('${WaitHeartbeatSeconds}')"
    assert config["waitTimeoutSeconds.$"] == "States.StringToJson('${WaitTimeoutSeconds}')"
    substitutions = resources()["IngestionSyncStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["KnowledgeBaseLogs"] == {"Ref": "KnowledgeBaseLogs"}
    assert substitutions["WaitHeartbeatSeconds"] == {"Ref": "WaitHeartbeatSeconds"}
    assert substitutions["WaitTimeoutSeconds"] == {"Ref": "WaitTimeoutSeconds"}
    assert substitutions["JobWatchFunctionArn"] == {"Fn::GetAtt": ["JobWatchFunction", "Arn"]}
    fields = schema("get-job-status-input.schema.json")["$defs"]["config"]["properties"]
    assert {"completion", "waitHeartbeatSeconds", "waitTimeoutSeconds"} <= set(fields)


def test_choose_completion_follows_record_job_id() -> None:
    s = states()
    assert s["RecordJobId"]["Next"] == "ChooseCompletion"
    choose = s["ChooseCompletion"]
    assert choose["Type"] == "Choice" and choose["Comment"]
    assert choose["Choices"] == [{"Variable": "$.config.completion", "StringEquals": "on", "Next": "WaitForJobEnd"}]
    assert choose["Default"] == "WaitForJobToStart"


def test_wait_for_job_end_is_the_contracts_callback_task() -> None:
    wait = states()["WaitForJobEnd"]
    assert wait["Comment"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["FunctionName"] == "${JobWatchFunctionArn}"
    payload = wait["Parameters"]["Payload"]
    assert payload == {
        "action": "wait",
        "taskToken.$": "$$.Task.Token",
        "record": {"pk.$": "$.record.pk", "sk.$": "$.record.sk"},
        "ingestionJobId.$": "$.job.ingestionJobId",
        "executionArn.$": "$$.Execution.Id",
        "pollIntervalSeconds.$": "$.config.pollIntervalSeconds",
    }
    required = schema("job-watch-input.schema.json")["$defs"]["wait"]["required"]
    assert {key.removesuffix(".$") for key in payload} == set(required)
    assert wait["HeartbeatSecondsPath"] == "$.config.waitHeartbeatSeconds"
    assert wait["TimeoutSecondsPath"] == "$.config.waitTimeoutSeconds"
    assert wait["ResultPath"] == "$.wake"
    assert [r["ErrorEquals"] for r in wait["Retry"]] == [LAMBDA_SERVICE_ERRORS]
    assert wait["Retry"] == states()["ValidateRequest"]["Retry"]
    assert wait["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.waitError", "Next": "GetJobStatus"}]
    assert wait["Next"] == "GetJobStatus"


#: The poll path as it was before push completion: state -> (Type, Next, the fields that drive it).
POLL_PATH = {
    "WaitForJobToStart": ("Wait", "GetJobStatus", {"SecondsPath": "$.config.pollIntervalSeconds"}),
    "GetJobStatus": ("Task", "RouteOnJobStatus", {"ResultPath": "$.job"}),
    "WaitBeforeNextPoll": ("Wait", "GetJobStatus", {"SecondsPath": "$.job.poll.waitSeconds"}),
}
ROUTES_BEFORE = ["MarkPartial", "MarkComplete", "MarkFailed", "MarkStopped", "MarkTimedOut"]


def test_the_poll_path_keeps_its_next_chain_from_wait_for_job_to_start() -> None:
    s = states()
    for name, (kind, next_state, fields) in POLL_PATH.items():
        assert (s[name]["Type"], s[name]["Next"]) == (kind, next_state), name
        assert {key: s[name][key] for key in fields} == fields, name
    assert s["GetJobStatus"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.pollError", "Next": "MarkPollFailed"}
    ]
    route = s["RouteOnJobStatus"]
    assert [c["Next"] for c in route["Choices"]] == [*ROUTES_BEFORE, "WaitForJobEnd"]
    assert route["Default"] == "WaitBeforeNextPoll"
    assert route["Choices"][-1] == {
        "And": [
            {"Variable": "$.config.completion", "StringEquals": "on"},
            {"Variable": "$.waitError", "IsPresent": False},
        ],
        "Next": "WaitForJobEnd",
    }


def _lookup(document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.removeprefix("$.").split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def _holds(rule: dict[str, Any], document: dict[str, Any]) -> bool:
    """The Choice rule operators RouteOnJobStatus and ChooseCompletion use (ASL semantics)."""
    if "And" in rule:
        return all(_holds(r, document) for r in rule["And"])
    try:
        value = _lookup(document, rule["Variable"])
    except KeyError:
        return rule.get("IsPresent") is False
    if "IsPresent" in rule:
        return bool(rule["IsPresent"])
    if "StringEquals" in rule:
        return value == rule["StringEquals"]
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    if "NumericGreaterThan" in rule:
        return isinstance(value, int) and value > rule["NumericGreaterThan"]
    raise AssertionError(f"operator not modelled: {rule}")


def _route(choice: dict[str, Any], document: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> str:
    for rule in choice["Choices"] if rules is None else rules:
        if _holds(rule, document):
            return str(rule["Next"])
    return str(choice["Default"])


def _documents(completion: str) -> Iterator[dict[str, Any]]:
    for status in ("STARTING", "IN_PROGRESS", "STOPPING", "COMPLETE", "FAILED", "STOPPED"):
        for failed in (0, 3):
            for exhausted in (False, True):
                for wait_error in (None, {"Error": "States.HeartbeatTimeout"}):
                    document: dict[str, Any] = {
                        "config": {"completion": completion},
                        "job": {
                            "status": status,
                            "statistics": {"numberOfDocumentsFailed": failed},
                            "poll": {"exhausted": exhausted},
                        },
                    }
                    if wait_error is not None:
                        document["waitError"] = wait_error
                    yield document


def test_with_completion_off_every_job_status_routes_exactly_as_before() -> None:
    route = states()["RouteOnJobStatus"]
    before = route["Choices"][: len(ROUTES_BEFORE)]
    for document in _documents("off"):
        assert _route(route, document) == _route(route, document, before), document
    assert _route(states()["ChooseCompletion"], {"config": {"completion": "off"}}) == "WaitForJobToStart"


def test_with_completion_on_only_a_wake_that_did_not_end_the_job_goes_back_to_wait() -> None:
    route = states()["RouteOnJobStatus"]
    before = route["Choices"][: len(ROUTES_BEFORE)]
    for document in _documents("on"):
        old = _route(route, document, before)
        expected = "WaitForJobEnd" if old == "WaitBeforeNextPoll" and "waitError" not in document else old
        assert _route(route, document) == expected, document
    assert _route(states()["ChooseCompletion"], {"config": {"completion": "on"}}) == "WaitForJobEnd"


def test_control_the_route_model_sees_a_rule_that_changes_the_poll_path() -> None:
    route = json.loads(json.dumps(states()["RouteOnJobStatus"]))
    route["Choices"][-1]["And"][0]["StringEquals"] = "off"  # a rule that would fire with completion off
    before = route["Choices"][: len(ROUTES_BEFORE)]
    changed = [d for d in _documents("off") if _route(route, d) != _route(route, d, before)]
    assert changed
