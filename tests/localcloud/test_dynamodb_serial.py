"""moto's DynamoDB item operations run one at a time (adapters/dynamodb_serial.py): a write from another thread (an
execution's task) waits while a Query runs, instead of changing the table's dict under it."""

from __future__ import annotations

import threading
import time

import boto3
from kbsync_localcloud.adapters import dynamodb_serial
from moto import mock_aws


def test_a_write_from_another_thread_waits_for_the_operation_in_progress() -> None:
    dynamodb_serial.install()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        done = threading.Event()

        def write() -> None:
            ddb.put_item(TableName="t", Item={"pk": {"S": "new"}})
            done.set()

        with dynamodb_serial._LOCK:  # an operation in progress (a Query iterating the table)
            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            time.sleep(0.3)  # long enough for an unserialized put to finish
            assert not done.is_set(), "put_item ran while another DynamoDB operation held the table"
        assert done.wait(10), "put_item never ran after the operation ended"
        writer.join(10)
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "new"}})["Item"] == {"pk": {"S": "new"}}
