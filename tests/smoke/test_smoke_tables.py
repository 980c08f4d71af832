"""What `make test`'s smoke run wrote: the published cells' nulls (notebooks 01 and 02).

Run by `make test` after the smoke notebooks, with XCORR_SMOKE_TABLES pointing at their
``tables/`` folder; skipped elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from xcorr_lib.studies.fcn_tables import NULL_COLUMNS

TABLES = os.environ.get("XCORR_SMOKE_TABLES")
pytestmark = pytest.mark.skipif(not TABLES, reason="no smoke run: `make test` runs the notebooks and sets XCORR_SMOKE_TABLES")


@pytest.mark.parametrize("name,cells", [("table2_nulls", 10), ("table3_nulls", 5)])
def test_every_published_cell_stands_beside_its_nulls(name: str, cells: int) -> None:
    table = pd.read_csv(Path(TABLES) / f"{name}.csv")
    assert list(table.columns) == NULL_COLUMNS
    assert len(table) == cells * table.groupby(["dataset", "n_probes"]).ngroups > 0
    assert ((table.ci_low <= table.score) & (table.score <= table.ci_high)).all()
    for p in ("p_shuffled", "p_untrained"):
        assert ((table[p] > 0) & (table[p] <= 1)).all()
    assert table.published.notna().all() and table[["null_analytic", "null_shuffled_mean",
                                                    "null_untrained_mean"]].notna().all().all()
    assert (Path(TABLES).parent / "figures" / f"{name}.png").is_file()


def test_recipes_are_known_before_a_run() -> None:
    """What `make reference` skips by: the recipe each notebook recorded equals the one
    computed beforehand from the profile (xcorr_lib.run.reference.expected_recipes)."""
    from xcorr_lib.run import pipeline, reference

    manifest = pd.read_csv(Path(TABLES).parent / "manifest.csv", keep_default_na=False, dtype=str)
    runs = manifest[manifest["kind"] == "notebook"].drop_duplicates("notebook", keep="last")
    portable = pipeline.profile_options("smoke", Path(pipeline.__file__).parents[2] / "notebooks" / "profiles")["portable"]
    expected = reference.expected_recipes(list(runs["notebook"]), profile="smoke", portable=portable)
    assert len(runs) >= 9 and dict(zip(runs["notebook"], runs["recipe"])) == expected
