"""Test handler: sleeps (real seconds) so a state's TimeoutSeconds can expire first."""

import time


def lambda_handler(event, context):
    time.sleep(float(event.get("sleep", 0)))
    return {"slept": event.get("sleep", 0)}
