"""Read the runbooks the way the tests use them: sections, links, and the commands of their ```console blocks.

A console block holds commands (lines starting with `$ `, continued by a trailing backslash) and sample output (every
other line). `NAME=value` commands bind variables. A `<!-- runbook-test: DIRECTIVE -->` comment before a block tells
the executing test something the prose cannot (e.g. that the next job must outlive the stop step on the local cloud).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$", re.DOTALL)
_DIRECTIVE = re.compile(r"<!--\s*runbook-test:\s*([a-z-]+).*?-->")
_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


@dataclass(frozen=True)
class Command:
    text: str
    line: int
    directives: tuple[str, ...] = ()

    @property
    def assignment(self) -> tuple[str, str] | None:
        match = ASSIGNMENT.match(self.text)
        return (match[1], match[2]) if match else None

    @property
    def is_kbsync(self) -> bool:
        return self.text.startswith("kbsync ")


@dataclass
class Runbook:
    path: Path
    commands: list[Command] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def headings(self) -> list[str]:
        return [line[3:].strip() for line in self.text.splitlines() if line.startswith("## ")]

    def links(self) -> list[str]:
        return [match[1] for match in _LINK.finditer(self.text) if "://" not in match[1]]


def parse(path: Path) -> Runbook:
    runbook = Runbook(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    in_console, pending, directives = False, "", []
    start = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not in_console:
            found = _DIRECTIVE.search(line)
            if found:
                directives.append(found[1])
            if line.startswith("```console"):
                in_console, block_directives, directives = True, tuple(directives), []
            continue
        if line.startswith("```"):
            if pending:
                raise ValueError(f"{path.name}:{number}: command continued past the end of its block")
            in_console = False
            continue
        if pending:
            pending += " " + line
        elif line.startswith("$ "):
            pending, start = line[2:], number
        else:
            continue  # sample output
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        runbook.commands.append(Command(pending.strip(), start, block_directives))
        block_directives, pending = (), ""  # a directive applies to the first command of its block
    return runbook


def all_runbooks() -> list[Runbook]:
    return [parse(path) for path in sorted(RUNBOOKS.glob("*.md"))]
