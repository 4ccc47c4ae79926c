"""CloudFormation ``AWS::StepFunctions::StateMachine`` -> an executable state machine, as on AWS.

moto 5.2.5 creates CFN state machines in its non-executing backend (``stepfunctions_backends``) even when
``execute_state_machine`` is on, ignores ``DefinitionSubstitutions``, ``Definition`` (object form),
``LoggingConfiguration``, ``TracingConfiguration`` and ``StateMachineType``, and has no ``GetAtt Arn``.

This adapter replaces the three CloudFormation classmethods of moto's ``StateMachine`` so that the machine is
created, updated and deleted in the backend the API uses (``moto.stepfunctions.responses.get_backend``: the
executing one in execute mode), i.e. the very object ``stepfunctions.create_state_machine`` would create, with
``${key}`` placeholders replaced by ``DefinitionSubstitutions`` exactly as CloudFormation does. ``Fn::Sub`` in
``DefinitionString`` is resolved by moto's own template parser before we see the properties.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from moto.stepfunctions import models as sfn_models
from moto.stepfunctions import responses as sfn_responses
from moto.utilities.tagging_service import TaggingService

from kbsync_localcloud.adapters import MotoInternalsChanged

StateMachine = sfn_models.StateMachine
_INSTALLED_MARK = "_kbsync_cfn_state_machines"
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def substitute_definition(definition: str, substitutions: Mapping[str, Any] | None) -> str:
    """Apply ``DefinitionSubstitutions``: each ``${key}`` with a key in the map becomes its value.

    Placeholders without a substitution are left as they are (CloudFormation does the same; the ASL then
    fails validation if one was meant to be replaced). Values are inserted as text, like CloudFormation does;
    a bool/number value becomes its JSON text.
    """
    if not substitutions:
        return definition

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in substitutions:
            return match.group(0)
        value = substitutions[key]
        return value if isinstance(value, str) else json.dumps(value)

    return _PLACEHOLDER.sub(replace, definition)


def _definition(properties: Mapping[str, Any]) -> str:
    if "Definition" in properties:
        text = json.dumps(properties["Definition"])
    else:
        text = str(properties.get("DefinitionString", ""))
    return substitute_definition(text, properties.get("DefinitionSubstitutions"))


def api_casing(value: Any) -> Any:
    """CloudFormation spells these configurations in PascalCase, the Step Functions API in camelCase."""
    if isinstance(value, Mapping):
        return {key[:1].lower() + key[1:]: api_casing(item) for key, item in value.items()}
    if isinstance(value, list):
        return [api_casing(item) for item in value]
    return value


def _configuration(properties: Mapping[str, Any], name: str) -> Any:
    value = properties.get(name)
    return None if value is None else api_casing(value)


def _tags(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"key": tag["Key"], "value": str(tag["Value"])} for tag in properties.get("Tags", [])]


def _as_stack_error(logical_name: str, error: Exception) -> Exception:
    """moto lets resource errors escape create_stack as a non-XML body; CloudFormation reports them as a
    failure naming the resource. A ValidationError is the closest moto can answer synchronously."""
    from moto.cloudformation.exceptions import ValidationError

    message = getattr(error, "message", None) or str(error)
    if type(error).__name__ == "InvalidDefinition":
        message = f"Invalid State Machine Definition: {message}"
    return ValidationError(message=f"AWS::StepFunctions::StateMachine {logical_name}: {message}")


def _create(
    cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **_: Any
) -> Any:
    properties = cloudformation_json["Properties"]
    backend = sfn_responses.get_backend(account_id, region_name)
    name = properties.get("StateMachineName", resource_name)
    try:
        return backend.create_state_machine(
            name=name,
            definition=_definition(properties),
            roleArn=properties.get("RoleArn", ""),
            tags=_tags(properties) or None,
            loggingConfiguration=_configuration(properties, "LoggingConfiguration"),
            tracingConfiguration=_configuration(properties, "TracingConfiguration"),
            encryptionConfiguration=_configuration(properties, "EncryptionConfiguration"),
            sm_type=properties.get("StateMachineType", "STANDARD"),
        )
    except Exception as error:
        raise _as_stack_error(name, error) from error


def _delete(cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
    backend = sfn_responses.get_backend(account_id, region_name)
    arn = resource_name
    if not arn.startswith("arn:"):
        name = cloudformation_json.get("Properties", {}).get("StateMachineName", resource_name)
        arn = f"arn:aws:states:{region_name}:{account_id}:stateMachine:{name}"
    backend.delete_state_machine(arn)


def _update(
    cls: type,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    properties = cloudformation_json.get("Properties", {})
    name = properties.get("StateMachineName", original_resource.name)
    if name != original_resource.name:  # a new name means replacement, as in CloudFormation
        created = _create(cls, name, cloudformation_json, account_id, region_name)
        _delete(cls, original_resource.arn, cloudformation_json, account_id, region_name)
        return created
    backend = sfn_responses.get_backend(account_id, region_name)
    definition = _definition(properties)
    try:
        _validate(backend, definition)
        machine = backend.update_state_machine(
            original_resource.arn,
            definition=definition,
            role_arn=properties.get("RoleArn"),
            logging_configuration=_configuration(properties, "LoggingConfiguration"),
            tracing_configuration=_configuration(properties, "TracingConfiguration"),
        )
    except Exception as error:
        raise _as_stack_error(name, error) from error
    backend.tagger.tag_resource(machine.arn, _tags(properties))
    return machine


def _validate(backend: Any, definition: str) -> None:
    """The executing backend validates definitions on create only; CloudFormation validates updates too."""
    validate = getattr(backend, "_validate_definition", None)
    if validate is not None:
        validate(definition=definition)


def _has_cfn_attr(cls: type, attribute: str) -> bool:
    return attribute in ("Arn", "Name", "StateMachineRevisionId", "DefinitionString", "RoleArn", "Tags")


_original_get_cfn_attribute = StateMachine.get_cfn_attribute


def _get_cfn_attribute(self: Any, attribute_name: str) -> Any:
    if attribute_name == "Arn":
        return self.arn
    if attribute_name == "StateMachineRevisionId":
        return getattr(self, "revision_id", None) or self.arn
    if attribute_name == "Tags":
        tags = self.backend.get_tags_list_for_state_machine(self.arn)
        return [{"Key": tag["key"], "Value": tag["value"]} for tag in tags]
    return _original_get_cfn_attribute(self, attribute_name)


def install() -> None:
    """Idempotently replace moto's StateMachine CloudFormation hooks (process-wide: decorator and server mode)."""
    if getattr(StateMachine, _INSTALLED_MARK, False):
        return
    StateMachine.create_from_cloudformation_json = classmethod(_create)  # type: ignore[assignment,method-assign]
    StateMachine.update_from_cloudformation_json = classmethod(_update)  # type: ignore[assignment,method-assign]
    StateMachine.delete_from_cloudformation_json = classmethod(_delete)  # type: ignore[assignment,method-assign]
    StateMachine.has_cfn_attr = classmethod(_has_cfn_attr)  # type: ignore[assignment,method-assign]
    StateMachine.get_cfn_attribute = _get_cfn_attribute  # type: ignore[method-assign]
    setattr(StateMachine, _INSTALLED_MARK, True)


def verify_moto_internals() -> None:
    """The moto 5.2.5 pieces this adapter relies on."""
    if not callable(getattr(sfn_responses, "get_backend", None)):
        raise MotoInternalsChanged("moto.stepfunctions.responses.get_backend(account, region) is gone")
    if StateMachine.cloudformation_type() != "AWS::StepFunctions::StateMachine":
        raise MotoInternalsChanged("moto's StateMachine no longer models AWS::StepFunctions::StateMachine")
    backend_cls = sfn_models.StepFunctionBackend
    expected = {
        "create_state_machine": ("name", "definition", "roleArn", "tags", "loggingConfiguration", "sm_type"),
        "update_state_machine": ("arn", "definition", "role_arn", "logging_configuration", "tracing_configuration"),
        "delete_state_machine": ("arn",),
    }
    for method, arguments in expected.items():
        code = getattr(backend_cls, method).__code__
        missing = [a for a in arguments if a not in code.co_varnames[: code.co_argcount]]
        if missing:
            raise MotoInternalsChanged(f"moto StepFunctionBackend.{method} lost arguments {missing}")
    if not hasattr(TaggingService, "tag_resource"):
        raise MotoInternalsChanged("moto TaggingService.tag_resource is gone")
    for attribute in ("arn", "name", "backend"):
        if attribute not in StateMachine.__init__.__code__.co_varnames:
            raise MotoInternalsChanged(f"moto StateMachine.__init__ no longer takes {attribute!r}")
