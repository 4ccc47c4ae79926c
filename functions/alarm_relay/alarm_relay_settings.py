"""The alarm relay's settings (AlarmRelayFunction's environment in template.yaml), read once at cold start
(kbsync_handlers.Settings). Every one is set by the template: none is a tunable of README.md's tables."""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: ALERTS_TOPIC_ARN: where the alarms' notices are published (always set by the template).
    topic_arn: str = field(default="", metadata=env("ALERTS_TOPIC_ARN"))
    #: RUNBOOK_BASE_URL (parameter RunbookBaseUrl): the notices link <base>/<runbook>.
    runbook_base_url: str = field(
        default="https://github.com/kbsync/kbsync/blob/main/runbooks", metadata=env("RUNBOOK_BASE_URL")
    )
    #: ALARM_KINDS: a JSON object, alarm name -> the catalogue kind its ALARM raises (ALARM_*), one entry per alarm
    #: of the stack (always set by the template; tests/alarms checks it names every AWS::CloudWatch::Alarm).
    alarm_kinds: str = field(default="{}", metadata=env("ALARM_KINDS"))
