"""Tiny test handler: proves the in-process Lambda runs this file with the template's environment and its layer.

`kbsync_tiny` exists only in tests/localcloud/tiny_app/layer/, so importing it proves the layer is on sys.path.
"""

import os

from kbsync_tiny.greeting import greet  # from the HelperLayer, as /opt/python on AWS


def handler(event, context):
    return {"summary": greet(os.environ["GREETING"], event["key"], event["jobId"])}
