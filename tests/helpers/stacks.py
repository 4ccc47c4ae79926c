"""One end-to-end test module's stack: the real template.yaml deployed on a local cloud of its own, a WorkflowRig
over it (clients, outputs, an alert inbox), and the Bedrock emulator's fault control reset before and after."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CLIENTS = ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent", "events", "lambda", "scheduler", "logs")


@dataclass
class Stack:
    rig: Any
    faults: Any
    cloud: Any


@contextmanager
def deployed(parameters: Mapping[str, str], *, time_scale: float, inbox: str, deadline_s: float) -> Iterator[Stack]:
    """The template deployed as stack "kbsync" with `parameters`; alerts read from the SQS queue named `inbox`."""
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack
    from kbsync_localcloud.workflow import AlertInbox, WorkflowRig

    with LocalCloud(time_scale=time_scale) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync", dict(parameters))
        clients = {name: cloud.client(name) for name in CLIENTS}
        alerts = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"], name=inbox)
        injected = faults()
        injected.reset()
        try:
            rig = WorkflowRig(clients=clients, outputs=outputs, inbox=alerts, timeout=deadline_s)
            yield Stack(rig, injected, cloud)
        finally:
            injected.reset()
