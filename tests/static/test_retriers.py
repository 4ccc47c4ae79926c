"""Retriers retry only errors that can succeed on retry.

A Retry on an error that can never succeed (a validation error, a failed condition, access denied, a generic
``*.AmazonDynamoDBException`` that also covers those, ``States.ALL``/``States.TaskFailed``) only delays the failure
by the whole backoff and hides it. Every ErrorEquals name of every Retry in every statemachines/*.asl.json (nested
states included) must be in ALLOWED below, which says why each one is transient and where that is documented.

Names without a ``Service.`` prefix are errors raised by our own Lambda functions: Step Functions reports a function
error under its ``errorType``, the exception's class name, and botocore names the exception of a modeled service
error after its shape (``ThrottlingException``, ``ProvisionedThroughputExceededException``...). Each such name is
checked against the botocore model of a service the task's function calls, or the function's own exception class.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.helpers.sam import load_template
from tests.static.test_sdk_integrations import MACHINES, walk_states

REPO = Path(__file__).resolve().parents[2]

LAMBDA_SERVICE = (
    "Lambda service errors: 'As a best practice, proactively handle these exceptions in your state machine to Retry "
    "invoking your Lambda function' (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception"
    ".html); TooManyRequestsException = Lambda's concurrency limit, named on the same page."
)
DDB_OPTIMISED = (
    "DynamoDB throttling / internal errors through the optimised integration (prefix 'DynamoDB.', "
    "https://docs.aws.amazon.com/step-functions/latest/dg/connect-ddb.html). DynamoDB says these can be retried "
    "(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html). Both spellings are "
    "listed: with the Exception suffix Step Functions says it always adds "
    "(https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html) and the service's own name "
    "(what the local engine reports)."
)
DDB_AWS_SDK = (
    "DynamoDB throttling / internal errors through the AWS SDK integration (aws-sdk:dynamodb:query; prefix 'DynamoDb.' "
    "and the Exception suffix, https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html); "
    "retryable per https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html."
)
BEDROCK = (
    "Bedrock Agent throttling / internal errors (https://docs.aws.amazon.com/bedrock/latest/APIReference/"
    "CommonErrors.html); ServiceQuotaExceeded on StartIngestionJob = 5 concurrent jobs per account, frees when a "
    "job ends (design.md section 3)."
)
SFN = (
    "StartExecution: ExecutionLimitExceeded frees as executions end; SdkClientException / AWSStepFunctionsException "
    "are the SDK's client and generic service errors, retried as AWS advises for Lambda's equivalents "
    "(https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html)."
)
IN_FUNCTION = (
    "raised inside our Lambda by boto3 after its own retries (the errorType is botocore's exception name): "
    "throttling or internal errors of DynamoDB, SNS, Bedrock Agent; see BARE_SOURCES for the service models."
)

#: Every error name a Retry may list, and why it is transient.
ALLOWED: dict[str, str] = {
    "Lambda.ServiceException": LAMBDA_SERVICE,
    "Lambda.AWSLambdaException": LAMBDA_SERVICE,
    "Lambda.SdkClientException": LAMBDA_SERVICE,
    "Lambda.ClientExecutionTimeoutException": LAMBDA_SERVICE,
    "Lambda.TooManyRequestsException": LAMBDA_SERVICE,
    "DynamoDB.ProvisionedThroughputExceededException": DDB_OPTIMISED,
    "DynamoDB.ThrottlingException": DDB_OPTIMISED,
    "DynamoDB.RequestLimitExceeded": DDB_OPTIMISED,
    "DynamoDB.RequestLimitExceededException": DDB_OPTIMISED,
    "DynamoDB.InternalServerError": DDB_OPTIMISED,
    "DynamoDB.InternalServerErrorException": DDB_OPTIMISED,
    "DynamoDb.ProvisionedThroughputExceededException": DDB_AWS_SDK,
    "DynamoDb.RequestLimitExceededException": DDB_AWS_SDK,
    "DynamoDb.InternalServerErrorException": DDB_AWS_SDK,
    "BedrockAgent.ThrottlingException": BEDROCK,
    "BedrockAgent.InternalServerException": BEDROCK,
    "BedrockAgent.ServiceQuotaExceededException": BEDROCK,
    "StepFunctions.ExecutionLimitExceededException": SFN,
    "StepFunctions.SdkClientException": SFN,
    "StepFunctions.AWSStepFunctionsException": SFN,
    "ThrottlingException": IN_FUNCTION,
    "InternalServerException": IN_FUNCTION,
    "ProvisionedThroughputExceededException": IN_FUNCTION,
    "RequestLimitExceeded": IN_FUNCTION,
    "InternalServerError": IN_FUNCTION,
    "ThrottledException": IN_FUNCTION,
    "KMSThrottlingException": IN_FUNCTION,
    "InternalErrorException": IN_FUNCTION,
    "GateContention": (
        "kbsync_gate GateContention (raised by functions/sync_gate and functions/pacer): the gate or pacer item "
        "changed under an optimistic-concurrency write on every attempt ('raised so the caller retries later'); "
        "the next read-modify-write can succeed."
    ),
}

#: Names that must never be retried (they match errors that cannot succeed on retry).
NEVER = ("States.ALL", "States.TaskFailed", "DynamoDB.AmazonDynamoDBException", "DynamoDB.ValidationException")

#: Our functions -> the AWS services their code calls (each name must appear quoted in the code the function runs:
#: its modules and the shared-core modules they import, e.g. kbsync_handlers.Clients for DynamoDB tables).
SERVICES_CALLED = {
    "functions/sync_gate/": ("dynamodb",),
    "functions/pacer/": ("dynamodb", "bedrock-agent"),
    "functions/nightly_plan/": ("dynamodb", "bedrock-agent"),
    "functions/upload_router/": ("dynamodb", "stepfunctions"),
    "functions/send_alert/": ("dynamodb", "sns", "bedrock-agent"),
    "functions/get_job_status/": ("bedrock-agent",),
    "functions/validate_request/": (),
    "functions/job_watch/": ("dynamodb", "stepfunctions", "bedrock-agent"),
}


def retriers() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(machine, state, state definition, retrier) for every Retry entry, nested states included."""
    found = []
    for path in MACHINES:
        for name, state in walk_states(json.loads(path.read_text(encoding="utf-8"))):
            for retrier in state.get("Retry", []):
                found.append((path.name, name, state, retrier))
    return found


def test_there_are_retriers_to_check() -> None:
    assert len(retriers()) >= 15


@pytest.mark.parametrize(
    ("machine", "state", "definition", "retrier"),
    retriers(),
    ids=[f"{machine}:{state}:{i}" for i, (machine, state, _, _) in enumerate(retriers())],
)
def test_every_retried_error_is_transient(
    machine: str, state: str, definition: dict[str, Any], retrier: dict[str, Any]
) -> None:
    not_allowed = [name for name in retrier["ErrorEquals"] if name not in ALLOWED]
    assert not_allowed == [], f"{machine}:{state} retries errors that cannot succeed on retry: {not_allowed}"
    assert not set(retrier["ErrorEquals"]) & set(NEVER)


def test_the_allow_list_holds_nothing_that_is_never_retryable() -> None:
    assert not set(NEVER) & set(ALLOWED)


# ------------------------------------------------------------------ names raised inside our functions


@cache
def template() -> dict[str, Any]:
    return load_template()


def function_dir(task: dict[str, Any], machine_logical_id: str) -> str:
    """The CodeUri of the function a lambda:invoke task calls (placeholder -> DefinitionSubstitutions -> GetAtt)."""
    placeholder = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", task["Parameters"]["FunctionName"])
    assert placeholder, task["Parameters"]["FunctionName"]
    props = template()["Resources"][machine_logical_id]["Properties"]
    logical_id = props["DefinitionSubstitutions"][placeholder[1]]["Fn::GetAtt"][0]
    return str(template()["Resources"][logical_id]["Properties"]["CodeUri"])


def machine_logical_ids() -> dict[str, str]:
    return {
        Path(r["Properties"]["DefinitionUri"]).name: logical_id
        for logical_id, r in template()["Resources"].items()
        if r["Type"] == "AWS::Serverless::StateMachine"
    }


@cache
def error_shapes(service: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model(service)
    return frozenset(shape.name for shape in model.error_shapes)


def function_source(directory: str) -> str:
    """The code a function runs: its own modules and the shared-core modules (schemas/kbsync_*.py) they import."""
    own = [path.read_text(encoding="utf-8") for path in sorted((REPO / directory).glob("*.py"))]
    core = sorted({name for text in own for name in re.findall(r"^import (kbsync_\w+)\b", text, re.MULTILINE)})
    return "\n".join(own + [(REPO / "schemas" / f"{name}.py").read_text(encoding="utf-8") for name in core])


def test_function_service_table_matches_the_code() -> None:
    for directory, services in SERVICES_CALLED.items():
        source = function_source(directory)
        for service in services:
            assert f'"{service}"' in source, (directory, service)


def test_names_without_a_service_prefix_are_raised_by_the_task_function() -> None:
    """A bare name in a lambda:invoke task's Retry is an exception class of that function, or a modeled error of a
    service the function calls (botocore's exception name = the Lambda errorType)."""
    by_file = machine_logical_ids()
    checked = 0
    for machine, state, definition, retrier in retriers():
        bare = [name for name in retrier["ErrorEquals"] if "." not in name]
        if not bare:
            continue
        assert definition["Resource"] == "arn:aws:states:::lambda:invoke", (machine, state)
        directory = function_dir(definition, by_file[machine])
        source = function_source(directory)
        for name in bare:
            own_class = re.search(rf"^class {name}\((\w+)\):", source, re.MULTILINE)
            modeled = [s for s in SERVICES_CALLED[directory] if name in error_shapes(s)]
            assert own_class or modeled, f"{machine}:{state}: {name} is raised by nothing {directory} calls"
            checked += 1
    assert checked > 0


def test_control_a_never_retryable_name_is_refused() -> None:
    bad = {"ErrorEquals": ["DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.AmazonDynamoDBException"]}
    with pytest.raises(AssertionError, match="AmazonDynamoDBException"):
        test_every_retried_error_is_transient("control", "Control", {}, bad)
