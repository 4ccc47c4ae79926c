"""Test handler: raises what the event asks for, so Retry/Catch on errorType can be checked."""


class IngestionConflict(Exception):
    """A custom exception: Step Functions must see its class name as the error."""


def lambda_handler(event, context):
    kind = event.get("raise")
    if kind == "ValueError":
        raise ValueError("bad value: " + str(event.get("detail")))
    if kind == "custom":
        raise IngestionConflict("a job is already running")
    if kind == "unserializable":
        return {"when": object()}
    return {"ok": True}
