"""The stack's DynamoDB tables in moto's in-memory DynamoDB, created from template.yaml's own table resources.

Why from the template: a table written out by hand in each test drifts from the deployed one (an index the code
queries, missing from the test's copy, fails only in AWS; one only the copy has hides that). The resource's
Properties that are CreateTable parameters are passed as they are; the others (point-in-time recovery, deletion
protection, encryption) change nothing a test reads.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from types import ModuleType
from typing import Any

import boto3

from tests.helpers.sam import load_template
from tests.triggers.support import REGION, aws

#: The Properties of an AWS::DynamoDB::Table that CreateTable takes under the same name and shape.
CREATE_TABLE_PROPERTIES = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")


@cache
def _table_properties(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"][logical_id]["Properties"]
    return {key: properties[key] for key in CREATE_TABLE_PROPERTIES if key in properties}


def create_template_table(logical_id: str, name: str) -> Any:
    """The table `logical_id` of template.yaml, named `name`, as a boto3 Table resource."""
    ddb = boto3.resource("dynamodb", region_name=REGION)
    ddb.create_table(TableName=name, **copy.deepcopy(_table_properties(logical_id)))
    return ddb.Table(name)


def create_jobs_table(name: str = "jobs") -> Any:
    """The JobsTable: pk/sk, GSI byStatus (status, startedAt), GSI byJobId (ingestionJobId, sparse)."""
    return create_template_table("JobsTable", name)


@contextmanager
def moto_jobs_table(monkeypatch: Any, *functions: ModuleType) -> Iterator[Any]:
    """The JobsTable in moto's in-memory DynamoDB (no network), with the cached clients of `functions` dropped before
    and after: a client made inside another test's moto would miss this one's tables."""
    with aws(monkeypatch):
        _reset_clients(functions)
        try:
            yield create_jobs_table()
        finally:
            _reset_clients(functions)


def _reset_clients(functions: tuple[ModuleType, ...]) -> None:
    for function in functions:
        function.reset_clients()
