"""`make bench` writes its figures into the README's generated block, and nowhere else."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kbsync_localcloud.bench import Ratio
from kbsync_localcloud.bench.__main__ import README_BEGIN, README_END, readme_table, write_readme


def test_the_table_replaces_only_the_generated_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# before\n{README_BEGIN}\nold figures\n{README_END}\nafter\n")
    figures = [Ratio("triggers", "night of 1000 targets: largest payload / 256 KB", 0.0081, "2,127 bytes (a | b)")]
    write_readme(readme, readme_table(figures, time.time() - 61, failed=[]))
    text = readme.read_text()
    assert text.startswith("# before\n") and text.endswith(f"{README_END}\nafter\n")
    assert "old figures" not in text
    assert "| triggers | night of 1000 targets: largest payload / 256 KB | 0.0081 | 2,127 bytes (a \\| b) |" in text
    assert "(1 min 1 s for the whole run)" in text


def test_a_failed_section_is_said_in_the_table(tmp_path: Path) -> None:
    assert "FAILED: poll cost" in readme_table([], time.time(), failed=["poll cost"])


def test_a_readme_without_the_block_is_refused_and_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    with pytest.raises(SystemExit, match="no '<!-- make bench: begin"):
        write_readme(readme, "table")
    assert readme.read_text() == "# no block\n"


def test_the_repository_readme_has_the_block() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert text.count(README_BEGIN) == 1 and text.count(README_END) == 1
