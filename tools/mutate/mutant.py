"""One mutant: a file of the repository with one small change, and a sentence saying which."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """`path` (relative to the repository) with its whole mutated text; `where` and `what` describe the change."""

    path: str
    where: str
    what: str
    text: str
    kind: str  # "asl" or "python"

    def describe(self) -> str:
        return f"{self.path} {self.where}: {self.what}"
