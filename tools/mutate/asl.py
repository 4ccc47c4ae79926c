"""The ASL mutator: JSON transforms over a state machine definition, one small change per mutant.

Every state is visited, states nested in Map (ItemProcessor/Iterator) and Parallel (Branches) included. The
catalogue (docs/testing.md):

- retriers: each ErrorEquals name dropped or renamed, the retrier removed, MaxAttempts -1/+1, IntervalSeconds -1/+1,
  BackoffRate -> 1, MaxDelaySeconds removed / halved, JitterStrategy FULL -> NONE;
- catchers: each catcher removed;
- Choice rules (And/Or/Not included): comparison operator flipped (its negation and its boundary twin), numeric
  constant -1/+1, string constant changed, boolean flipped, IsPresent/IsNull flipped, a rule removed, a rule's Next
  swapped with the Default;
- idempotency tokens: ClientToken (any *Token parameter) and child execution names replaced by States.UUID();
- record writes: each DynamoDB putItem Item field dropped, each updateItem SET assignment dropped, a condition
  dropped;
- task inputs and outputs: each field of a Lambda Payload (the SendAlert alert facts included) and of a
  ResultSelector dropped;
- Wait states: Seconds -1/+1, SecondsPath replaced by a 0-second wait (the pacer's start spacing is a Wait).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tools.mutate.mutant import Mutant

Json = dict[str, Any]

NUMERIC_FLIPS = {
    "NumericGreaterThan": ("NumericLessThanEquals", "NumericGreaterThanEquals"),
    "NumericGreaterThanEquals": ("NumericLessThan", "NumericGreaterThan"),
    "NumericLessThan": ("NumericGreaterThanEquals", "NumericLessThanEquals"),
    "NumericLessThanEquals": ("NumericGreaterThan", "NumericLessThan"),
    "NumericEquals": (),
    "TimestampGreaterThan": ("TimestampLessThanEquals", "TimestampGreaterThanEquals"),
    "TimestampLessThan": ("TimestampGreaterThanEquals", "TimestampLessThanEquals"),
}
BOOLEAN_TESTS = ("BooleanEquals", "IsPresent", "IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
TOKEN_KEY = re.compile(r"^(ClientToken|ClientRequestToken|IdempotencyToken|[A-Za-z]*Token)(\.\$)?$")


def walk_states(states: Json, prefix: str = "") -> Iterator[tuple[str, Json]]:
    """(qualified name, state) of every state, nested Map and Parallel states included."""
    for name, state in states.items():
        qualified = f"{prefix}{name}"
        yield qualified, state
        if state.get("Type") == "Map":
            inner = state.get("ItemProcessor") or state.get("Iterator") or {}
            yield from walk_states(inner.get("States", {}), f"{qualified}/")
        if state.get("Type") == "Parallel":
            for index, branch in enumerate(state.get("Branches", [])):
                yield from walk_states(branch.get("States", {}), f"{qualified}[{index}]/")


def find_state(definition: Json, qualified: str) -> Json:
    for name, state in walk_states(definition["States"]):
        if name == qualified:
            return state
    raise KeyError(qualified)


class _Collector:
    """Collects (where, what, transform) for one state; transforms act on a fresh copy of the definition."""

    def __init__(self, state_name: str) -> None:
        self.state_name = state_name
        self.items: list[tuple[str, str, Callable[..., object]]] = []

    def add(self, where: str, what: str, change: Callable[..., object]) -> None:
        self.items.append((where, what, change))


# ------------------------------------------------------------------ retriers and catchers


def _retrier_mutants(c: _Collector, state: Json) -> None:
    for index, retrier in enumerate(state.get("Retry", [])):
        where = f"{c.state_name} Retry[{index}]"

        names = retrier.get("ErrorEquals", [])
        for position, name in enumerate(names):
            if len(names) > 1:
                c.add(
                    where,
                    f"ErrorEquals drops {name}",
                    lambda s, i=index, p=position: s["Retry"][i]["ErrorEquals"].pop(p),
                )
            c.add(
                where,
                f"ErrorEquals renames {name} -> {name}X",
                lambda s, i=index, p=position, n=name: s["Retry"][i]["ErrorEquals"].__setitem__(p, n + "X"),
            )
        c.add(where, "retrier removed", lambda s, i=index: s["Retry"].pop(i))
        attempts = retrier.get("MaxAttempts", 3)
        for delta in (-1, 1):
            if attempts + delta >= 0:
                c.add(
                    where,
                    f"MaxAttempts {attempts} -> {attempts + delta}",
                    lambda s, i=index, v=attempts + delta: s["Retry"][i].__setitem__("MaxAttempts", v),
                )
        interval = retrier.get("IntervalSeconds", 1)
        for delta in (-1, 1):
            if interval + delta >= 1:
                c.add(
                    where,
                    f"IntervalSeconds {interval} -> {interval + delta}",
                    lambda s, i=index, v=interval + delta: s["Retry"][i].__setitem__("IntervalSeconds", v),
                )
        backoff = retrier.get("BackoffRate", 2.0)
        if backoff != 1:
            c.add(where, f"BackoffRate {backoff} -> 1", lambda s, i=index: s["Retry"][i].__setitem__("BackoffRate", 1))
        if "MaxDelaySeconds" in retrier:
            delay = retrier["MaxDelaySeconds"]
            c.add(where, f"MaxDelaySeconds {delay} removed", lambda s, i=index: s["Retry"][i].pop("MaxDelaySeconds"))
            if delay // 2 >= 1:
                c.add(
                    where,
                    f"MaxDelaySeconds {delay} -> {delay // 2}",
                    lambda s, i=index, v=delay // 2: s["Retry"][i].__setitem__("MaxDelaySeconds", v),
                )
        if retrier.get("JitterStrategy") == "FULL":
            c.add(
                where,
                "JitterStrategy FULL -> NONE",
                lambda s, i=index: s["Retry"][i].__setitem__("JitterStrategy", "NONE"),
            )


def _catcher_mutants(c: _Collector, state: Json) -> None:
    for index, catcher in enumerate(state.get("Catch", [])):
        names = ",".join(catcher.get("ErrorEquals", []))
        c.add(
            f"{c.state_name} Catch[{index}]",
            f"catcher of {names} -> {catcher.get('Next')} removed",
            lambda s, i=index: s["Catch"].pop(i),
        )


# ------------------------------------------------------------------ Choice rules


def _rule_paths(rule: Json, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Json]]:
    """(path from the state, comparison) for every leaf comparison of a rule (And/Or/Not descended)."""
    if "And" in rule or "Or" in rule:
        key = "And" if "And" in rule else "Or"
        for index, inner in enumerate(rule[key]):
            yield from _rule_paths(inner, (*path, key, index))
    elif "Not" in rule:
        yield from _rule_paths(rule["Not"], (*path, "Not"))
    else:
        yield path, rule


def _at(state: Json, path: tuple[Any, ...]) -> Any:
    node: Any = state
    for key in path:
        node = node[key]
    return node


def _comparison_mutants(c: _Collector, where: str, path: tuple[Any, ...], leaf: Json) -> None:
    variable = leaf.get("Variable", "?")
    for key, value in list(leaf.items()):
        if key in ("Variable", "Next"):
            continue
        base = key.removesuffix("Path")
        suffix = key[len(base) :]
        for flipped in NUMERIC_FLIPS.get(base, ()):
            new_key = flipped + suffix

            def rename(s: Json, p: tuple[Any, ...] = path, old: str = key, new: str = new_key) -> None:
                node = _at(s, p)
                node[new] = node.pop(old)

            c.add(where, f"{variable} {key} -> {new_key}", rename)
        if base.startswith(("Numeric", "Timestamp")) and not suffix and isinstance(value, int | float):
            for delta in (-1, 1):
                c.add(
                    where,
                    f"{variable} {key} {value} -> {value + delta}",
                    lambda s, p=path, k=key, v=value + delta: _at(s, p).__setitem__(k, v),
                )
        if base.startswith("String") and not suffix and isinstance(value, str):
            c.add(
                where,
                f"{variable} {key} {value!r} -> {value + 'X'!r}",
                lambda s, p=path, k=key, v=value + "X": _at(s, p).__setitem__(k, v),
            )
        if key in BOOLEAN_TESTS and isinstance(value, bool):
            c.add(
                where,
                f"{variable} {key} {value} -> {not value}",
                lambda s, p=path, k=key, v=not value: _at(s, p).__setitem__(k, v),
            )


def _choice_mutants(c: _Collector, state: Json) -> None:
    if state.get("Type") != "Choice":
        return
    rules = state.get("Choices", [])
    default = state.get("Default")
    for index, rule in enumerate(rules):
        where = f"{c.state_name} Choices[{index}] (-> {rule.get('Next')})"
        for path, leaf in _rule_paths(rule, ("Choices", index)):
            _comparison_mutants(c, where, path, leaf)
        if len(rules) > 1 or default is not None:
            c.add(where, "rule removed", lambda s, i=index: s["Choices"].pop(i))
        if default is not None and default != rule.get("Next"):

            def swap(s: Json, i: int = index) -> None:
                s["Choices"][i]["Next"], s["Default"] = s["Default"], s["Choices"][i]["Next"]

            c.add(where, f"Next {rule.get('Next')} swapped with Default {default}", swap)


# ------------------------------------------------------------------ tokens, records, payloads, waits


def _token_mutants(c: _Collector, state: Json) -> None:
    parameters = state.get("Parameters")
    if not isinstance(parameters, dict):
        return
    resource = str(state.get("Resource", ""))
    for key in list(parameters):
        is_token = TOKEN_KEY.match(key) is not None
        is_child_name = ":states:startExecution" in resource and key in ("Name", "Name.$")
        if not (is_token or is_child_name):
            continue
        plain = key.removesuffix(".$")

        def randomize(s: Json, old: str = key, new: str = plain + ".$") -> None:
            s["Parameters"].pop(old)
            s["Parameters"][new] = "States.UUID()"

        c.add(f"{c.state_name} Parameters.{plain}", f"{plain} replaced by States.UUID()", randomize)


def _update_assignments(expression: str) -> tuple[str, list[str], str]:
    """('SET ', [assignments], rest) of an UpdateExpression whose first clause is SET (else ('', [], expression))."""
    match = re.match(r"^\s*SET\s+(.*?)(\s+(?:REMOVE|ADD|DELETE)\s.*)?$", expression, re.DOTALL)
    if not match:
        return "", [], expression
    return "SET ", [part.strip() for part in match[1].split(",")], match[2] or ""


def _record_mutants(c: _Collector, state: Json) -> None:
    resource = str(state.get("Resource", ""))
    parameters = state.get("Parameters")
    if not resource.startswith("arn:aws:states:::dynamodb:") or not isinstance(parameters, dict):
        return
    for field in list(parameters.get("Item", {})):
        if field in ("pk", "sk"):
            continue  # the key: DynamoDB refuses the write at once (caught by anything that writes)
        c.add(
            f"{c.state_name} Item", f"record field {field} dropped", lambda s, f=field: s["Parameters"]["Item"].pop(f)
        )
    head, assignments, rest = _update_assignments(str(parameters.get("UpdateExpression", "")))
    for index, assignment in enumerate(assignments):
        if len(assignments) < 2:
            break

        def drop(s: Json, i: int = index) -> None:
            p = s["Parameters"]
            kept = [a for j, a in enumerate(assignments) if j != i]
            p["UpdateExpression"] = head + ", ".join(kept) + rest
            text = p["UpdateExpression"] + " " + str(p.get("ConditionExpression", ""))
            for table in ("ExpressionAttributeValues", "ExpressionAttributeNames"):
                for placeholder in list(p.get(table, {})):
                    name = placeholder.removesuffix(".$")
                    if not re.search(re.escape(name) + r"(?![A-Za-z0-9_])", text):
                        p[table].pop(placeholder)

        c.add(f"{c.state_name} UpdateExpression", f"record write {assignment!r} dropped", drop)
    if "ConditionExpression" in parameters:

        def no_condition(s: Json) -> None:
            p = s["Parameters"]
            p.pop("ConditionExpression")
            text = str(p.get("UpdateExpression", ""))
            for table in ("ExpressionAttributeValues", "ExpressionAttributeNames"):
                for placeholder in list(p.get(table, {})):
                    if not re.search(re.escape(placeholder.removesuffix(".$")) + r"(?![A-Za-z0-9_])", text):
                        p[table].pop(placeholder)
                if table in p and not p[table]:
                    p.pop(table)

        c.add(f"{c.state_name} ConditionExpression", "write condition dropped", no_condition)


def _payload_mutants(c: _Collector, state: Json) -> None:
    parameters = state.get("Parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("Payload"), dict):
        for key in list(parameters["Payload"]):
            c.add(
                f"{c.state_name} Payload",
                f"input field {key.removesuffix('.$')} dropped",
                lambda s, k=key: s["Parameters"]["Payload"].pop(k),
            )
    selector = state.get("ResultSelector")
    if isinstance(selector, dict) and len(selector) > 1:
        for key in list(selector):
            c.add(
                f"{c.state_name} ResultSelector",
                f"result field {key.removesuffix('.$')} dropped",
                lambda s, k=key: s["ResultSelector"].pop(k),
            )


def _wait_mutants(c: _Collector, state: Json) -> None:
    if state.get("Type") != "Wait":
        return
    if isinstance(state.get("Seconds"), int):
        seconds = state["Seconds"]
        for delta in (-1, 1):
            if seconds + delta >= 0:
                c.add(
                    c.state_name,
                    f"Wait Seconds {seconds} -> {seconds + delta}",
                    lambda s, v=seconds + delta: s.__setitem__("Seconds", v),
                )
    if "SecondsPath" in state:

        def no_wait(s: Json) -> None:
            s.pop("SecondsPath")
            s["Seconds"] = 0

        c.add(c.state_name, f"Wait SecondsPath {state['SecondsPath']} -> 0 seconds", no_wait)


CATALOGUE = (
    _retrier_mutants,
    _catcher_mutants,
    _choice_mutants,
    _token_mutants,
    _record_mutants,
    _payload_mutants,
    _wait_mutants,
)


def mutants_of(path: Path, relative: str) -> list[Mutant]:
    """Every mutant of one state machine file (each one JSON-valid, with one change)."""
    original: Json = json.loads(path.read_text(encoding="utf-8"))
    found: list[Mutant] = []
    seen: set[str] = set()
    for name, state in walk_states(original["States"]):
        collector = _Collector(name)
        for family in CATALOGUE:
            family(collector, state)
        for where, what, change in collector.items:
            mutated = copy.deepcopy(original)
            change(find_state(mutated, name))
            text = json.dumps(mutated, indent=2) + "\n"
            if text in seen or mutated == original:
                continue
            seen.add(text)
            found.append(Mutant(path=relative, where=where, what=what, text=text, kind="asl"))
    return found
