"""Prepare the inputs of the static gates (scripts/gates.sh): the template as deployed, and the skips.

    python gates/prepare.py --template template.yaml --skips gates/skips.yaml --out DIR

Writes, in DIR:
- ``deployed.json``: the CloudFormation AWS would deploy (``sam package`` with placeholder S3 code locations + the
  SAM transform, via ``kbsync_localcloud.sam.transform_template``; no AWS call). cfn-lint and checkov scan this,
  because on the raw SAM file they see nothing inside the generated roles, rules and state machines.
- ``source.json``: the SAM template itself, for the SAM-aware checks (``sam validate --lint`` runs exactly
  cfn-lint on this form).
- ``cfn-lint.args`` / ``checkov.args``: extra command-line arguments, one per line (template-wide skips).

Why skips are injected here rather than written into template.yaml: gates/skips.yaml must stay the ONE place a
reviewer reads to learn what is not checked and why. A skip naming a resource becomes that resource's
``Metadata`` (cfn-lint ``ignore_checks``, checkov ``skip``) in the scanned copy only; a skip without a resource
applies to the whole template. A skip naming a resource that exists in neither form is an error, so stale skips
cannot pile up silently.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TOOLS = ("cfn-lint", "checkov")


class SkipsError(ValueError):
    """gates/skips.yaml is malformed or stale; the message names the entry."""


@dataclass(frozen=True)
class Skip:
    tool: str
    check: str
    reason: str
    resources: tuple[str, ...] = ()  # empty: the whole template


def load_skips(path: Path) -> list[Skip]:
    """Read and check the skip list: every entry names a known tool, a check id and a real reason."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = document.get("skips") or []
    if not isinstance(entries, list):
        raise SkipsError(f"{path}: 'skips' must be a list")
    skips = []
    for index, entry in enumerate(entries):
        where = f"{path}: skips[{index}]"
        if not isinstance(entry, dict):
            raise SkipsError(f"{where}: must be a mapping")
        unknown = set(entry) - {"tool", "check", "reason", "resource", "resources"}
        if unknown:
            raise SkipsError(f"{where}: unknown key(s) {sorted(unknown)}")
        if entry.get("tool") not in TOOLS:
            raise SkipsError(f"{where}: tool must be one of {TOOLS}, got {entry.get('tool')!r}")
        if not isinstance(entry.get("check"), str) or not entry["check"].strip():
            raise SkipsError(f"{where}: 'check' (the rule id) is required")
        reason = entry.get("reason")
        if not isinstance(reason, str) or len(reason.strip()) < 20:
            raise SkipsError(f"{where}: 'reason' must explain the skip (at least 20 characters)")
        skips.append(Skip(entry["tool"], entry["check"].strip(), " ".join(reason.split()), _resources(entry, where)))
    return skips


def _resources(entry: dict[str, Any], where: str) -> tuple[str, ...]:
    """'resource: Id' or 'resources: [Id, ...]' (not both); nothing = template-wide."""
    if "resource" in entry and "resources" in entry:
        raise SkipsError(f"{where}: give 'resource' or 'resources', not both")
    value = entry.get("resources", [entry["resource"]] if "resource" in entry else [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SkipsError(f"{where}: 'resource' must be a logical id, 'resources' a list of logical ids")
    if "resources" in entry and not value:
        raise SkipsError(f"{where}: 'resources' is empty (omit it for a template-wide skip)")
    return tuple(value)


def _add_metadata(resource: dict[str, Any], skip: Skip) -> None:
    metadata = resource.setdefault("Metadata", {})
    if skip.tool == "cfn-lint":
        checks = metadata.setdefault("cfn-lint", {}).setdefault("config", {}).setdefault("ignore_checks", [])
        if skip.check not in checks:
            checks.append(skip.check)
    else:
        metadata.setdefault("checkov", {}).setdefault("skip", []).append({"id": skip.check, "comment": skip.reason})


def apply_skips(forms: dict[str, dict[str, Any]], skips: list[Skip]) -> dict[str, list[str]]:
    """Inject resource skips into every template form holding the resource; return template-wide arguments."""
    arguments: dict[str, list[str]] = {tool: [] for tool in TOOLS}
    for skip in skips:
        if not skip.resources:
            flag = "--ignore-checks" if skip.tool == "cfn-lint" else "--skip-check"
            arguments[skip.tool] += [flag, skip.check]
        for resource in skip.resources:
            holders = [form for form in forms.values() if resource in form.get("Resources", {})]
            if not holders:
                raise SkipsError(
                    f"stale skip {skip.tool} {skip.check}: resource {resource!r} is in no form of the template"
                )
            for form in holders:
                _add_metadata(form["Resources"][resource], skip)
    return arguments


def fold_literal_joins(template: dict[str, Any]) -> dict[str, Any]:
    """The SAM transform inlines each state machine's definition as ``Fn::Join`` over its lines (one list item per
    line of the pretty-printed ASL). When every item is a literal string, the join *is* that string
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-join.html), so the
    scanned copy carries the string itself: cfn-lint 1.x resolves a join by recursing once per item and overflows
    Python's stack on a definition of more than about 1,000 lines ("maximum recursion depth exceeded", E1022)."""
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        join = properties.get("DefinitionString")
        if isinstance(join, dict) and set(join) == {"Fn::Join"}:
            separator, parts = join["Fn::Join"]
            if isinstance(separator, str) and all(isinstance(part, str) for part in parts):
                properties["DefinitionString"] = separator.join(parts)
    return template


def prepare(template: Path, skips_path: Path, out_dir: Path) -> None:
    from kbsync_localcloud.sam import load_template, transform_template

    forms = {"deployed": fold_literal_joins(transform_template(template)), "source": load_template(template)}
    arguments = apply_skips(forms, load_skips(skips_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, form in forms.items():
        (out_dir / f"{name}.json").write_text(json.dumps(form, indent=1, sort_keys=False), encoding="utf-8")
    for tool, args in arguments.items():
        (out_dir / f"{tool}.args").write_text("".join(f"{arg}\n" for arg in args), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--skips", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        prepare(args.template, args.skips, args.out)
    except (SkipsError, ValueError, OSError) as error:
        print(f"gates: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
