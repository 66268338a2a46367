"""The README shows the latest measured figures: its benchmark table and capacity model are exactly what
bench/ generated from bench/results.json (make bench / make chaos splice them in; nobody edits them by hand)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))  # for `bench`

from bench import readme_sync  # noqa: E402
from bench.results import load  # noqa: E402
from bench.table import markdown  # noqa: E402


@pytest.mark.parametrize("region", sorted(readme_sync.REGIONS))
def test_the_readme_region_is_the_generated_file(region):
    readme = readme_sync.README.read_text()
    assert readme_sync.spliced_region(readme, region) == readme_sync.readme_fragment(readme_sync.REGIONS[region])


def test_the_table_file_is_built_from_the_latest_results():
    assert readme_sync.TABLE.read_text() == markdown(load())


def test_splicing_replaces_only_the_marked_region():
    start, end = readme_sync._markers("x")
    before = f"# Title\n\ntext above\n{start}\nold figures\n{end}\ntext below\n"
    after = readme_sync.splice(before, "x", "new figures")
    assert after == f"# Title\n\ntext above\n{start}\nnew figures\n{end}\ntext below\n"
    with pytest.raises(ValueError, match="lacks the y markers"):
        readme_sync.splice(before, "y", "anything")
