"""Test handler: returns what the in-process Lambda gave it (event, environment, context)."""

import os

import boto3

#: read at import time, like Powertools' Logger reads POWERTOOLS_SERVICE_NAME
GREETING_AT_IMPORT = os.environ.get("GREETING")


def lambda_handler(event, context):
    result = {
        "event": event,
        "greeting": os.environ.get("GREETING"),
        "greeting_at_import": GREETING_AT_IMPORT,
        "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
        },
    }
    if event.get("list_buckets"):
        result["buckets"] = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    return result
