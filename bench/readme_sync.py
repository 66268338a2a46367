"""Keep the README's benchmark table and capacity model equal to the latest measurements.

`make bench`, `make chaos` and `python -m bench.capacity` all end here: the table (`bench/README_TABLE.md`) and the
capacity model (`bench/CAPACITY.md`) are rebuilt from `bench/results.json` and spliced into README.md between
marker comments, so the README never shows figures older than results.json (a unit test checks they agree).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.harness import REPO

README = REPO / "README.md"
TABLE = REPO / "bench" / "README_TABLE.md"
CAPACITY = REPO / "bench" / "CAPACITY.md"
REGIONS = {"bench-table": TABLE, "capacity": CAPACITY}


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start (generated from bench/; do not edit here) -->", f"<!-- {name}:end -->"


def readme_fragment(path: Path) -> str:
    """A bench/ markdown file as the README shows it: its own headings one level deeper (the README's section
    heading stands in for the file's title, which is dropped)."""
    lines = path.read_text().rstrip("\n").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out = ["#" + line if re.match(r"^#{1,5} ", line) else line for line in lines]
    return "\n".join(out).strip("\n")


def splice(readme: str, name: str, fragment: str) -> str:
    start, end = _markers(name)
    if start not in readme or end not in readme:
        raise ValueError(f"README.md lacks the {name} markers: {start} ... {end}")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{fragment}\n{end}{tail}"


def spliced_region(readme: str, name: str) -> str:
    start, end = _markers(name)
    return readme.split(start, 1)[1].split(end, 1)[0].strip("\n")


def rebuild(results: dict[str, Any] | None = None) -> list[str]:
    """Rebuild the table and (when results.json has what it needs) the capacity model, then splice both into
    the README. Returns the files written."""
    from bench import capacity
    from bench.results import load
    from bench.table import markdown

    results = results if results is not None else load()
    written = []
    TABLE.write_text(markdown(results))
    written.append("bench/README_TABLE.md")
    if capacity.has_inputs(results):
        CAPACITY.write_text(capacity.render(results))
        written.append("bench/CAPACITY.md")
    readme = README.read_text()
    for name, path in REGIONS.items():
        readme = splice(readme, name, readme_fragment(path))
    README.write_text(readme)
    written.append("README.md")
    return written
