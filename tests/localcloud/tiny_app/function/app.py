"""Tiny test handler: proves the in-process Lambda runs this file with the template's environment."""

import os


def handler(event, context):
    return {"summary": f"{os.environ['GREETING']}: {event['key']} -> {event['jobId']}"}
