"""The bench's one table, and bench/results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import Row

UNITS = {
    "ops/s": "{:,.0f}",
    "turns/s": "{:,.0f}",
    "threads/s": "{:,.0f}",
    "ms": "{:.3f}",
    "B/turn": "{:,.1f}",
    "x": "{:.2f}",
}


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    return UNITS.get(unit, "{:.3g}").format(value)


def _verdict(row: Row) -> str:
    if row.met is None:
        return ""
    return "met" if row.met else "MISSED"


def table(rows: list[Row]) -> str:
    header = ("section", "measurement", "value", "unit", "floor", "ratio", "target", "")
    lines = [header]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        lines.append(
            (
                row.section,
                row.name,
                _number(row.value, row.unit),
                row.unit,
                _number(row.floor, row.unit),
                ratio,
                row.target.text if row.target else "",
                _verdict(row),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 4, 5}
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def floors_legend(rows: list[Row]) -> str:
    names = sorted({r.floor_name for r in rows if r.floor_name})
    return "floors: " + "; ".join(names) if names else ""


def summary(rows: list[Row]) -> str:
    judged = [r for r in rows if r.met is not None]
    missed = [r for r in judged if not r.met]
    text = f"targets: {len(judged) - len(missed)} of {len(judged)} met"
    if missed:
        text += "; missed: " + ", ".join(f"{r.section}/{r.name}" for r in missed)
    return text


def write_json(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    data = {"meta": meta, "results": [r.as_json() for r in rows]}
    path.write_text(json.dumps(data, indent=2) + "\n")
