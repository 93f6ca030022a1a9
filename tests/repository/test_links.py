"""Nothing in the repository points outside it: every relative link resolves inside."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
# A path written out that climbs out of the checkout or names a machine's own tree.
OUTSIDE = re.compile(r"(?<![\w.])\.\./(?:shared|notes)\b|/work/(?:shared|notes|main|wt)\b")


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    paths = [ROOT / name for name in listed.split("\0") if name]
    return [p for p in paths if p.suffix in {".md", ".py", ".toml", ".yml", ".yaml", ".txt"}]


def _leaves_repo(source: Path, target: str) -> bool:
    if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        return False  # a URL or an anchor, not a path
    path = target.split("#", 1)[0]
    resolved = (source.parent / path).resolve()
    return not resolved.is_relative_to(ROOT) or not resolved.exists()


def test_markdown_links_stay_inside_the_repository() -> None:
    bad = [
        f"{md.relative_to(ROOT)}: {target}"
        for md in _tracked_text_files()
        if md.suffix == ".md"
        for target in MARKDOWN_LINK.findall(md.read_text())
        if _leaves_repo(md, target)
    ]
    assert bad == []


def test_no_file_names_a_path_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    bad = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for p in _tracked_text_files()
        if p.resolve() != this
        for m in OUTSIDE.finditer(p.read_text(errors="replace"))
    ]
    assert bad == []


def test_the_readme_links_the_api_contract() -> None:
    assert "](docs/API.md)" in (ROOT / "README.md").read_text()
