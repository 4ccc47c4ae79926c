"""Benchmarks of kbsync (``make bench`` = ``python -m kbsync_localcloud.bench``): ratios only, never absolute times.

Absolute times depend on the machine (2 shared cores here, anything in CI); ratios of two measurements taken the
same way on the same machine do not, so they are what the README quotes and what a reader can compare. Nothing
here gates anything: tests assert behaviour, benchmarks only report.

Each section module exposes ``ratios() -> list[Ratio]``; ``__main__`` gathers whichever sections are present.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    """One figure: `value` of `name`, with what it is a ratio of (`meaning`)."""

    section: str
    name: str
    value: float
    meaning: str

    def line(self) -> str:
        return f"{self.section:<12} {self.name:<52} {self.value:>9.2f}  {self.meaning}"
