"""Every service integration the state machines call exists where AWS says it does.

For every Task in every statemachines/*.asl.json (Parallel branches and Map ItemProcessor/Iterator included):

- ``arn:aws:states:::aws-sdk:<service>:<action>``: (a) the action is an operation of the service in botocore's model
  (Step Functions' service name -> botocore's, camelCase action -> PascalCase operation), (b) the service is in Step
  Functions' published list of supported AWS SDK integrations and the action is not one of its unsupported
  operations (the list we rely on is kept below as data, with its URL and date), (c) every Parameters key is a member
  of the operation's input shape (PascalCase), every required member is present, and every error named in the task's
  Retry/Catch is one the operation can raise per the botocore model (``<ExceptionPrefix>.<Name>Exception``) or a
  ``States.*`` name;
- optimised integrations (``arn:aws:states:::lambda:invoke``, ``dynamodb:putItem``, ``states:startExecution.sync:2``,
  ``sns:publish``...): the resource is in the documented optimised set and its Parameters are members of the API's
  input shape.

Step Functions' own docs say what a name in the ASL maps to:
- https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html : resource syntax
  ``arn:aws:states:::aws-sdk:serviceName:apiAction``, parameters in PascalCase "even if the native service API is in
  camelCase", errors ``ServiceName.ErrorName`` with the *Exception* suffix always included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel

REPO = Path(__file__).resolve().parents[2]
MACHINES = sorted((REPO / "statemachines").glob("*.asl.json"))

#: Step Functions' "Supported AWS SDK service integrations", the entries this project relies on (plus neighbours, so
#: a typo between them is caught), copied from
#: https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html#supported-services-awssdk-list
#: on 2026-12-05: service name in the Resource -> (exception prefix, unsupported operations). The page lists no
#: unsupported operation for Amazon Bedrock Agents, so bedrockagent:startIngestionJob and :stopIngestionJob are
#: supported; it lists no bedrockagent entry among the deprecated integrations (AWS Mobile, Amazon Macie, AWS IoT
#: RoboRunner).
SUPPORTED_AWS_SDK_SERVICES: dict[str, tuple[str, frozenset[str]]] = {
    "bedrock": ("Bedrock", frozenset()),
    "bedrockagent": ("BedrockAgent", frozenset()),
    "bedrockagentruntime": (
        "BedrockAgentRuntime",
        frozenset({"InvokeAgent", "InvokeFlow", "InvokeInlineAgent", "OptimizePrompt", "RetrieveAndGenerateStream"}),
    ),
    "bedrockruntime": ("BedrockRuntime", frozenset({"InvokeModelWithResponseStream", "ConverseStream"})),
    "dynamodb": ("DynamoDb", frozenset()),
    "sfn": ("Sfn", frozenset()),
}

#: Step Functions' service name -> botocore's, where removing the hyphens of botocore's name does not give it.
BOTOCORE_NAME_OVERRIDES = {"sfn": "stepfunctions", "states": "stepfunctions", "cloudwatchlogs": "logs"}

#: Optimised integrations (resource after ``arn:aws:states:::``, integration pattern included) -> botocore service and
#: operation, each from its page of the Step Functions developer guide (2026-12-05):
#: - Lambda: https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html (invoke, .waitForTaskToken)
#: - DynamoDB: https://docs.aws.amazon.com/step-functions/latest/dg/connect-ddb.html ("Only GetItem, PutItem,
#:   UpdateItem, and DeleteItem API actions are available through optimized integration"; no .sync, no callback)
#: - Step Functions: https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html (StartExecution:
#:   request-response, .sync, .sync:2, .waitForTaskToken)
#: - SNS: https://docs.aws.amazon.com/step-functions/latest/dg/connect-sns.html (publish, .waitForTaskToken)
OPTIMISED_INTEGRATIONS: dict[str, tuple[str, str]] = {
    "lambda:invoke": ("lambda", "Invoke"),
    "lambda:invoke.waitForTaskToken": ("lambda", "Invoke"),
    "dynamodb:getItem": ("dynamodb", "GetItem"),
    "dynamodb:putItem": ("dynamodb", "PutItem"),
    "dynamodb:updateItem": ("dynamodb", "UpdateItem"),
    "dynamodb:deleteItem": ("dynamodb", "DeleteItem"),
    "states:startExecution": ("stepfunctions", "StartExecution"),
    "states:startExecution.sync": ("stepfunctions", "StartExecution"),
    "states:startExecution.sync:2": ("stepfunctions", "StartExecution"),
    "states:startExecution.waitForTaskToken": ("stepfunctions", "StartExecution"),
    "sns:publish": ("sns", "Publish"),
    "sns:publish.waitForTaskToken": ("sns", "Publish"),
}

AWS_SDK = re.compile(r"^arn:aws:states:::aws-sdk:(?P<service>[a-z0-9-]+):(?P<action>[a-zA-Z0-9]+)(?P<pattern>\..+)?$")
OPTIMISED = re.compile(r"^arn:aws:states:::(?P<integration>[a-z0-9]+:[a-zA-Z0-9]+(\.[a-zA-Z0-9:]+)?)$")


@dataclass(frozen=True)
class Task:
    machine: str
    state: str
    definition: dict[str, Any]

    @property
    def resource(self) -> str:
        return str(self.definition["Resource"])

    def error_names(self) -> set[str]:
        return {
            name for key in ("Retry", "Catch") for rule in self.definition.get(key, []) for name in rule["ErrorEquals"]
        }


def walk_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, nested ones included (Parallel branches, Map ItemProcessor or its older name Iterator)."""
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from walk_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from walk_states(state[key])


def all_tasks() -> list[Task]:
    found = []
    for path in MACHINES:
        definition = json.loads(path.read_text(encoding="utf-8"))
        for name, state in walk_states(definition):
            if state.get("Type") == "Task":
                found.append(Task(path.name, name, state))
    return found


@cache
def session() -> botocore.session.Session:
    return botocore.session.get_session()


def botocore_service(sfn_name: str) -> str | None:
    if sfn_name in BOTOCORE_NAME_OVERRIDES:
        return BOTOCORE_NAME_OVERRIDES[sfn_name]
    by_squashed = {name.replace("-", ""): name for name in session().get_available_services()}
    return by_squashed.get(sfn_name)


@cache
def operation(service: str, name: str) -> OperationModel | None:
    model = session().get_service_model(service)
    return model.operation_model(name) if name in model.operation_names else None


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def parameter_problems(parameters: dict[str, Any], op: OperationModel) -> list[str]:
    """Parameters keys not in the input shape (PascalCase), and required members missing."""
    members = {pascal(member) for member in op.input_shape.members} if op.input_shape else set()
    given = {key.removesuffix(".$") for key in parameters}
    problems = [f"unknown parameter {key!r}" for key in sorted(given - members)]
    required = {pascal(member) for member in (op.input_shape.required_members if op.input_shape else [])}
    problems += [f"missing required parameter {key!r}" for key in sorted(required - given)]
    return problems


def with_exception_suffix(name: str) -> str:
    """Step Functions: 'always include the Exception suffix', even where the service's name has none."""
    return name if name.endswith("Exception") else name + "Exception"


def aws_sdk_problems(task: Task) -> list[str]:
    """What is wrong with an aws-sdk task; [] when it is a supported, existing call with valid parameters/errors."""
    match = AWS_SDK.match(task.resource)
    assert match, task.resource
    sfn_service, action = match["service"], match["action"]
    if sfn_service not in SUPPORTED_AWS_SDK_SERVICES:
        return [f"{sfn_service}: not in Step Functions' supported AWS SDK services (as recorded in this test)"]
    prefix, unsupported = SUPPORTED_AWS_SDK_SERVICES[sfn_service]
    service = botocore_service(sfn_service)
    if service is None:
        return [f"{sfn_service}: no botocore service of that name"]
    op = operation(service, pascal(action))
    if op is None:
        return [f"{service} has no operation {pascal(action)} (from action {action!r})"]
    problems = (
        [f"{pascal(action)} is an unsupported operation of {sfn_service}"] if pascal(action) in unsupported else []
    )
    problems += parameter_problems(task.definition.get("Parameters", {}), op)
    raisable = {f"{prefix}.{with_exception_suffix(shape.name)}" for shape in op.error_shapes}
    problems += [
        f"error {name!r} cannot be raised by {service}:{op.name} (it raises {sorted(raisable)})"
        for name in sorted(task.error_names())
        if not name.startswith("States.") and name not in raisable
    ]
    return problems


def optimised_problems(task: Task) -> list[str]:
    match = OPTIMISED.match(task.resource)
    if not match or match["integration"] not in OPTIMISED_INTEGRATIONS:
        return [f"{task.resource}: not a documented optimised integration (as recorded in this test)"]
    service, name = OPTIMISED_INTEGRATIONS[match["integration"]]
    op = operation(service, name)
    assert op is not None, (service, name)
    return parameter_problems(task.definition.get("Parameters", {}), op)


def label(task: Task) -> str:
    return f"{task.machine}:{task.state}"


AWS_SDK_TASKS = [t for t in all_tasks() if t.resource.startswith("arn:aws:states:::aws-sdk:")]
OPTIMISED_TASKS = [t for t in all_tasks() if not t.resource.startswith("arn:aws:states:::aws-sdk:")]


# ------------------------------------------------------------------ the definitions


def test_the_walk_sees_nested_tasks_and_every_machine() -> None:
    """Parallel branches (the gate's RunIngestionSync) and Map item processors (the fan-out's RunGate) are walked."""
    names = {label(t) for t in all_tasks()}
    assert {"sync-gate.asl.json:RunIngestionSync", "sync-gate.asl.json:ReleaseStartToken"} <= names
    assert "nightly-fanout.asl.json:RunGate" in names
    assert {t.machine for t in all_tasks()} == {p.name for p in MACHINES}


def test_the_aws_sdk_integrations_used_are_the_expected_ones() -> None:
    assert sorted({t.resource for t in AWS_SDK_TASKS}) == [
        "arn:aws:states:::aws-sdk:bedrockagent:startIngestionJob",
        "arn:aws:states:::aws-sdk:bedrockagent:stopIngestionJob",
        "arn:aws:states:::aws-sdk:dynamodb:query",
    ]


@pytest.mark.parametrize("task", AWS_SDK_TASKS, ids=label)
def test_aws_sdk_task_is_supported_exists_and_has_valid_parameters_and_errors(task: Task) -> None:
    assert aws_sdk_problems(task) == []


@pytest.mark.parametrize("task", OPTIMISED_TASKS, ids=label)
def test_optimised_task_is_a_documented_integration_with_valid_parameters(task: Task) -> None:
    assert optimised_problems(task) == []


def test_the_bedrockagent_names_map_to_botocore() -> None:
    assert botocore_service("bedrockagent") == "bedrock-agent"
    assert botocore_service("sfn") == "stepfunctions"
    stop = operation("bedrock-agent", "StopIngestionJob")
    assert stop is not None
    assert set(stop.input_shape.required_members) == {"knowledgeBaseId", "dataSourceId", "ingestionJobId"}


# ------------------------------------------------------------------ negative controls: the checks can fail


def sdk_task(resource: str, parameters: dict[str, Any], errors: list[str] | None = None) -> Task:
    definition: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": parameters}
    if errors:
        definition["Retry"] = [{"ErrorEquals": errors}]
    return Task("control.asl.json", "Control", definition)


STOP = "arn:aws:states:::aws-sdk:bedrockagent:stopIngestionJob"
STOP_PARAMETERS = {"KnowledgeBaseId.$": "$.kb", "DataSourceId.$": "$.ds", "IngestionJobId.$": "$.job"}


def test_control_a_valid_task_passes() -> None:
    assert aws_sdk_problems(sdk_task(STOP, STOP_PARAMETERS, ["BedrockAgent.ConflictException", "States.ALL"])) == []


@pytest.mark.parametrize(
    ("resource", "parameters", "errors", "expected"),
    [
        ("arn:aws:states:::aws-sdk:bedrockagent:stopIngestionJobs", STOP_PARAMETERS, None, "no operation"),
        ("arn:aws:states:::aws-sdk:bedrock-agent:stopIngestionJob", STOP_PARAMETERS, None, "supported"),
        ("arn:aws:states:::aws-sdk:kbsyncmadeup:stopIngestionJob", STOP_PARAMETERS, None, "supported"),
        ("arn:aws:states:::aws-sdk:bedrockruntime:converseStream", {"ModelId": "m"}, None, "unsupported operation"),
        (STOP, {**STOP_PARAMETERS, "knowledgeBaseId": "x"}, None, "unknown parameter 'knowledgeBaseId'"),
        (STOP, {"KnowledgeBaseId": "k", "DataSourceId": "d"}, None, "missing required parameter 'IngestionJobId'"),
        (STOP, STOP_PARAMETERS, ["BedrockAgent.ServiceQuotaExceededException"], "cannot be raised"),
        (STOP, STOP_PARAMETERS, ["BedrockAgent.Throttling"], "cannot be raised"),
        (STOP, STOP_PARAMETERS, ["BedrockAgentRuntime.ThrottlingException"], "cannot be raised"),
    ],
)
def test_control_a_wrong_task_is_reported(
    resource: str, parameters: dict[str, Any], errors: list[str] | None, expected: str
) -> None:
    problems = aws_sdk_problems(sdk_task(resource, parameters, errors))
    assert any(expected in problem for problem in problems), problems


def test_control_an_undocumented_optimised_integration_is_reported() -> None:
    for resource in ("arn:aws:states:::dynamodb:query", "arn:aws:states:::lambda:invoke.sync"):
        assert optimised_problems(sdk_task(resource, {})) != []
    bad = sdk_task("arn:aws:states:::dynamodb:putItem", {"TableName": "t", "Itemz": {}})
    assert optimised_problems(bad) == ["unknown parameter 'Itemz'", "missing required parameter 'Item'"]
