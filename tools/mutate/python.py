"""Python mutants: cosmic-ray's operators (the maintained tool, used as a library), plus two operators of ours.

cosmic-ray (pinned in requirements/mutate.txt) parses a file with parso and applies one operator at one occurrence;
``cosmic_ray.mutating.mutate_code`` returns the mutated text without touching the disk. We use it for mutant
generation only: cosmic-ray's own runner (``cosmic-ray exec``) mutates the file in place in the work tree and runs
one test command for every mutant, which suits neither a shared work tree nor a suite where each file has its own
few fast tests (docs/testing.md says why). The runner of this package writes each mutant into a throw-away copy.

Not every cosmic-ray operator is used: comparison operators are flipped to their negation and their boundary twin
only (``<`` -> ``>=`` and ``<=``; not ``is``, ``==``...), arithmetic to its inverse; the variable inserter/replacer
(random names) and the decorator remover (Powertools decorators only) are left out. cosmic-ray mutates no string
and deletes no statement, so two operators of ours cover what kbsync's bugs look like: a key typo (``"failureReasons"``
-> ``"failureReasonsX"`` in a subscript, ``.get`` or ``.pop``) and a dropped entry of a dict or list display (an
alert field, the runbook line).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tools.mutate.mutant import Mutant

COMPARISON_PAIRS = {
    ("Lt", "LtE"),
    ("Lt", "GtE"),
    ("LtE", "Lt"),
    ("LtE", "Gt"),
    ("Gt", "GtE"),
    ("Gt", "LtE"),
    ("GtE", "Gt"),
    ("GtE", "Lt"),
    ("Eq", "NotEq"),
    ("NotEq", "Eq"),
    ("In", "NotIn"),
    ("NotIn", "In"),
    ("Is", "IsNot"),
    ("IsNot", "Is"),
}
BINARY_PAIRS = {("Add", "Sub"), ("Sub", "Add"), ("Mult", "FloorDiv"), ("FloorDiv", "Mult"), ("Div", "Mult")}
OTHER_OPERATORS = (
    "core/ReplaceTrueWithFalse",
    "core/ReplaceFalseWithTrue",
    "core/ReplaceAndWithOr",
    "core/ReplaceOrWithAnd",
    "core/AddNot",
    "core/NumberReplacer",
    "core/ZeroIterationForLoop",
    "core/ExceptionReplacer",
    "core/ReplaceBreakWithContinue",
    "core/ReplaceContinueWithBreak",
)
KEY_METHODS = ("get", "pop", "setdefault")
#: A number that is the default of ``.get(key, N)``: replacing it changes nothing wherever the key is always written
#: (a pacer entry's seq/seenAt/leaseUntil, a record's version): equivalent mutants by construction, not generated.
GET_DEFAULT = re.compile(r"\.get\(\s*[^(),]+,\s*$")


def cosmic_ray_operator_names() -> list[str]:
    from cosmic_ray.plugins import operator_names

    chosen = []
    for name in operator_names():
        short = name.split("/", 1)[1]
        if short.startswith("ReplaceComparisonOperator_"):
            parts = tuple(short.split("_")[1:])
            if parts in COMPARISON_PAIRS:
                chosen.append(name)
        elif short.startswith("ReplaceBinaryOperator_"):
            parts = tuple(short.split("_")[1:])
            if parts in BINARY_PAIRS:
                chosen.append(name)
        elif name in OTHER_OPERATORS:
            chosen.append(name)
    return sorted(chosen)


def _cosmic_ray_mutants(source: str, relative: str, functions: frozenset[str] | None) -> Iterator[Mutant]:
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.ast.ast_query import ASTQuery
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    module = get_ast(source)
    for name in cosmic_ray_operator_names():
        operator = get_operator(name)()
        occurrence = -1
        for node in ast_nodes(module):
            for start, _end in operator.mutation_positions(node):
                occurrence += 1
                definition = ASTQuery(node).get_definition_name()
                if functions is not None and definition not in functions:
                    continue
                line_text = source.splitlines()[start[0] - 1]
                if name.endswith("NumberReplacer") and GET_DEFAULT.search(line_text[: start[1]]):
                    continue
                try:
                    mutated = mutate_code(source, operator, occurrence)
                except AttributeError:
                    # cosmic-ray 8.7.0's ExceptionReplacer assumes every name in an except tuple is a plain name: a
                    # dotted one (`except (KeyError, binascii.Error)`) is a parso PythonNode without .value. That
                    # one replacement cannot be made; the clause's other names still are.
                    continue
                if mutated is None or mutated == source:
                    continue
                line = start[0]
                code = source.splitlines()[line - 1].strip()
                yield Mutant(
                    path=relative,
                    where=f"line {line} in {definition}()",
                    what=f"{name.split('/', 1)[1]}: {code[:90]}",
                    text=mutated,
                    kind="python",
                )


# ------------------------------------------------------------------ our two operators (ast + source splicing)


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else name
            owner[child] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return owner


def _splice(source: str, node: ast.expr, replacement: str) -> str:
    """`source` with the exact span of `node` replaced (ast columns are UTF-8 byte offsets)."""
    lines = source.encode("utf-8").splitlines(keepends=True)
    start = sum(len(line) for line in lines[: node.lineno - 1]) + node.col_offset
    assert node.end_lineno is not None and node.end_col_offset is not None
    end = sum(len(line) for line in lines[: node.end_lineno - 1]) + node.end_col_offset
    data = source.encode("utf-8")
    return (data[:start] + replacement.encode("utf-8") + data[end:]).decode("utf-8")


def _key_constants(tree: ast.AST) -> Iterator[ast.Constant]:
    """String constants used as keys: x["key"], x.get("key"), x.pop("key"), x.setdefault("key")."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and node.slice.value.isidentifier()
        ):
            yield node.slice
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in KEY_METHODS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.isidentifier()
        ):
            yield node.args[0]


def _own_mutants(source: str, relative: str, functions: frozenset[str] | None) -> Iterator[Mutant]:
    tree = ast.parse(source)
    owner = _enclosing_functions(tree)

    def wanted(node: ast.AST) -> bool:
        return functions is None or owner.get(node) in functions

    for constant in _key_constants(tree):
        if not wanted(constant):
            continue
        value = str(constant.value)
        yield Mutant(
            path=relative,
            where=f"line {constant.lineno} in {owner.get(constant)}()",
            what=f"KeyTypo: {value!r} -> {value + 'X'!r}",
            text=_splice(source, constant, repr(value + "X")),
            kind="python",
        )
    for node in ast.walk(tree):
        if not wanted(node):
            continue
        if isinstance(node, ast.Dict) and len(node.keys) >= 2:
            for index, key in enumerate(node.keys):
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    continue
                smaller = ast.Dict(
                    keys=[k for i, k in enumerate(node.keys) if i != index],
                    values=[v for i, v in enumerate(node.values) if i != index],
                )
                yield Mutant(
                    path=relative,
                    where=f"line {key.lineno} in {owner.get(node)}()",
                    what=f"DictEntryDropped: {key.value!r}",
                    text=_splice(source, node, ast.unparse(smaller)),
                    kind="python",
                )
        if isinstance(node, ast.List) and len(node.elts) >= 2 and isinstance(node.ctx, ast.Load):
            for index, element in enumerate(node.elts):
                if isinstance(element, ast.Starred):
                    continue
                shorter = ast.List(elts=[e for i, e in enumerate(node.elts) if i != index], ctx=ast.Load())
                yield Mutant(
                    path=relative,
                    where=f"line {element.lineno} in {owner.get(node)}()",
                    what=f"ListElementDropped: {ast.unparse(element)[:80]}",
                    text=_splice(source, node, ast.unparse(shorter)),
                    kind="python",
                )


def mutants_of(path: Path, relative: str, functions: frozenset[str] | None = None) -> list[Mutant]:
    """Every mutant of one Python file (only inside `functions`, innermost function or class names, if given)."""
    source = path.read_text(encoding="utf-8")
    found: list[Mutant] = []
    seen: set[str] = {source}
    for mutant in (*_cosmic_ray_mutants(source, relative, functions), *_own_mutants(source, relative, functions)):
        if mutant.text in seen:
            continue
        try:
            compile(mutant.text, relative, "exec")
        except SyntaxError:
            continue
        seen.add(mutant.text)
        found.append(mutant)
    return found
