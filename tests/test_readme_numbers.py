"""README numbers that come from code are regenerated here and must match, character for character."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def section(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert found, f"README has no {name} section"
    return found.group(1)


def test_readme_null_table_is_what_the_code_computes() -> None:
    from xcorr_lib.studies.fcn_tables import null_paper_settings
    from xcorr_lib.studies.fcn_tables.null import null_markdown

    assert section("null-table") == null_markdown(null_paper_settings())


def test_readme_paper_relation_without_copy_errors() -> None:
    from xcorr_lib.studies.transfer_attack import paper_relation, relation_stats

    published = relation_stats(paper_relation(["fashion-mnist"])).iloc[0]
    cleaned = relation_stats(paper_relation(["fashion-mnist"], copy_errors=False)).iloc[0]
    text = " ".join((ROOT / "README.md").read_text().split())
    assert f"give +{published.spearman:.1f} as published, {cleaned.spearman:.1f} (p = {cleaned.spearman_p:.1f}, four nets)" in text
