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


def test_only_some_sections_replace_their_rows_and_keep_the_others(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    old = [Ratio("triggers", "night", 1.1, "kept"), Ratio("push cost", "delay", 9.0, "stale")]
    readme.write_text(f"# before\n{README_BEGIN}\n{readme_table(old, time.time() - 5, failed=[])}\n{README_END}\n")
    new = [Ratio("push cost", "delay", 2.5, "fresh"), Ratio("push cost", "transitions", 18.0, "new row")]
    write_readme(readme, partial=(new, time.time() - 61, []))
    text = readme.read_text()
    assert "| triggers | night | 1.1 | kept |" in text
    assert (
        "stale" not in text and "| push cost | delay | 2.5 | fresh |" in text and "| push cost | transitions |" in text
    )
    assert "Sections push cost measured again by `make bench` (`--only`)" in text and "(1 min 1 s)" in text
    # Measured again later: one note, not two.
    write_readme(readme, partial=(new, time.time(), []))
    assert readme.read_text().count("measured again") == 1
