"""The README documents every setting the code reads, and opens with the two commands."""

from __future__ import annotations

from pathlib import Path

from threadkeeper.settings import env_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = [n for n in sorted(env_names()) if f"`{n}`" not in text]
    assert missing == []


def test_the_readme_opens_with_the_two_commands() -> None:
    head = README.read_text()[:400]
    assert "make run" in head and "make test" in head
