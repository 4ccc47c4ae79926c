"""A kbsync stack reduced to what `kbsync show` and `kbsync logs` read, on the local cloud (moto in this process).

Why not the product template: these commands read a handful of stack outputs (the jobs table, the log destination)
and never start a sync, so a stack with those outputs and real resources behind them (a DynamoDB table shaped as the
jobs table, a CloudWatch Logs delivery destination on a log group) tests them in a second instead of a deploy.
The outputs the CLI requires (kbsync.cli.aws.REQUIRED_OUTPUTS) are there; the state machines they name are not used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kbsync.cli.logs import DESTINATION_OUTPUT

ACCOUNT = "123456789012"
REGION = "us-east-1"
JOBS_TABLE = "kbsync-min-jobs"
LOG_GROUP = "/aws/vendedlogs/kbsync-min-kb-logs"


@dataclass(frozen=True)
class MinimalStack:
    cloud: Any
    name: str
    destination_arn: str | None

    def client(self, service: str) -> Any:
        return self.cloud.client(service)

    def logs_off(self, name: str) -> str:
        """Another stack in the same cloud, as deployed with KnowledgeBaseLogs=off (no destination output)."""
        _stack(self.cloud, name, None)
        return name


def _jobs_table(ddb: Any) -> None:
    """The jobs table's keys and its byJobId index (records.find_job's first way)."""
    ddb.create_table(
        TableName=JOBS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "ingestionJobId", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byJobId",
                "KeySchema": [{"AttributeName": "ingestionJobId", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def _destination(logs: Any) -> str:
    """A delivery destination on a log group, as the stack deployed with KnowledgeBaseLogs=on declares it."""
    logs.create_log_group(logGroupName=LOG_GROUP)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"
    created = logs.put_delivery_destination(
        name="kbsync-min-kb-logs", deliveryDestinationConfiguration={"destinationResourceArn": group_arn}
    )
    return str(created["deliveryDestination"]["arn"])


def _stack(cloud: Any, name: str, destination: str | None) -> None:
    """A CloudFormation stack `name` whose outputs are the jobs table, placeholder state machines and, when given,
    the delivery destination."""
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:kbsync-min"
    outputs: dict[str, Any] = {
        "IngestionSyncStateMachineArn": {"Value": f"{machine}-sync"},
        "SyncGateStateMachineArn": {"Value": f"{machine}-gate"},
        "JobsTableName": {"Value": JOBS_TABLE},
    }
    if destination:
        outputs[DESTINATION_OUTPUT] = {"Value": destination}
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
    cloud.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


@contextmanager
def minimal_stack(name: str = "kbsync") -> Iterator[MinimalStack]:
    """The local cloud with a stack `name` deployed as with KnowledgeBaseLogs=on (KnowledgeBaseLogDestinationArn
    among its outputs); `MinimalStack.logs_off` adds one deployed as with KnowledgeBaseLogs=off."""
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=0.01) as cloud:
        _jobs_table(cloud.client("dynamodb"))
        destination = _destination(cloud.client("logs"))
        _stack(cloud, name, destination)
        yield MinimalStack(cloud, name, destination)
