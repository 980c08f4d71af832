"""README numbers come from committed files: every marked section is what xcorr_lib.report.readme makes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from xcorr_lib.report import readme, reference

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sections() -> dict[str, str]:
    return readme.render(ROOT)


def test_every_section_matches_its_files(sections: dict[str, str]) -> None:
    for doc in readme.DOCUMENTS:
        assert readme.check(ROOT / doc, sections) == [], doc
    assert readme.unplaced(ROOT, sections) == []


def test_readme_is_a_front_door() -> None:
    """At most 12 kB, its numbers all inside generated sections, and every link into the
    manual pointing at a page the site builds."""
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 12_000
    assert set(readme.marked_sections(text)) == {"findings"}
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert len(links) >= 10
    for link in links:
        assert (ROOT / link).is_file(), link
    prose = readme.MARK.sub("", text)
    prose = re.sub(r"```.*?```|`[^`]*`", "", prose, flags=re.S)
    assert not re.findall(r"\d+\.\d+|\d{2,}x|\d+%", prose)  # a measured number outside a section


def test_check_fails_after_changing_one_number(sections: dict[str, str], tmp_path: Path, capsys) -> None:
    findings = ROOT / "docs" / "findings.md"
    text = findings.read_text()
    body = next(m for m in readme.MARK.finditer(text) if m["name"] == "fashion-table3")
    number = re.search(r"\d\.\d{3}", body["body"])
    changed = number.group(0)[:-1] + str((int(number.group(0)[-1]) + 1) % 10)
    start = body.start("body") + number.start()
    copy = tmp_path / "findings.md"
    copy.write_text(text[:start] + changed + text[start + len(changed):])
    assert readme.check(copy, sections) == ["fashion-table3"]
    assert readme.main(["--check", "--readme", str(copy)]) == 1
    assert "fashion-table3" in capsys.readouterr().out
    assert readme.main(["--check"]) == 0


def test_write_restores_emptied_sections(sections: dict[str, str], tmp_path: Path) -> None:
    for doc in readme.DOCUMENTS:
        text = (ROOT / doc).read_text()
        emptied = readme.MARK.sub(lambda m: f"<!-- {m['name']}:start -->\nstale\n<!-- {m['name']}:end -->", text)
        copy = tmp_path / "doc.md"
        copy.write_text(emptied)
        assert set(readme.check(copy, sections)) == set(readme.marked_sections(text))
        assert readme.update(emptied, sections) == text


def test_a_marker_without_code_is_an_error(sections: dict[str, str]) -> None:
    with pytest.raises(KeyError, match="no-such-section"):
        readme.update("<!-- no-such-section:start -->\nx\n<!-- no-such-section:end -->", sections)


def test_reference_files_are_small_and_from_clean_commits() -> None:
    folder = ROOT / readme.FASHION
    sizes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert 0 < sizes < 1_000_000
    manifest = readme.read_reference(folder, "manifest")
    assert not manifest["git_commit"].astype(str).str.contains("dirty|unknown").any()
    log = reference.read_verifications(ROOT / reference.VERIFICATIONS)  # reruns of a clean commit only
    assert not log["commit"].astype(str).str.contains("dirty|unknown").any()
    seeds = sorted(manifest["seed"].unique())
    assert seeds == list(range(len(seeds))) and len(seeds) >= 2
    recipes = reference.recipes(folder)
    assert recipes.groupby("notebook")["recipe"].nunique().eq(1).all() and (recipes["recipe"] != "").all()
    assert (manifest["profile"] == "paper-fashion").all()


def test_collect_copies_tables_manifest_and_run_times(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "seed-3"
    (run / "tables").mkdir(parents=True)
    (run / "notebooks").mkdir()
    pd.DataFrame({"net": ["Net1"], "test_acc": [0.9]}).to_csv(run / "tables" / "table1_accuracy.csv", index=False)
    (run / "tables" / "unrelated.csv").write_text("a\n1\n")
    (run / "manifest.csv").write_text("artifact,seed\nx,3\n")
    (run / "notebooks" / "01_fcn_correlations.ipynb").write_text(json.dumps({"metadata": {"papermill": {"duration": 61.4}}}))
    dest = tmp_path / "ref"
    written = readme.collect(tmp_path / "runs", dest)
    assert sorted(p.name for p in written) == ["manifest.csv", "runtime.csv", "table1_accuracy.csv"]
    assert readme.read_reference(dest, "runtime").to_dict("records") == [
        {"notebook": "01_fcn_correlations", "seconds": 61, "seed": 3}]
    shutil.rmtree(tmp_path / "runs")
    with pytest.raises(FileNotFoundError, match="make reference"):
        readme.collect(tmp_path / "runs", dest)


def test_spread_shows_mean_and_range() -> None:
    assert readme.spread(pd.Series([0.1, 0.2, 0.6])) == "0.300 (0.100-0.600)"
    assert readme.spread(pd.Series([0.25])) == "0.250"


def test_the_readmes_example_runs(capsys) -> None:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "CorrelationResult(score=" in out and "null shuffle" in out and "probe-bootstrap interval" in out


def _population_copy(tmp_path: Path) -> Path:
    dest = tmp_path / reference.POPULATION
    shutil.copytree(ROOT / reference.POPULATION, dest)
    return dest


def _best_pair(diffs: pd.DataFrame, best: str) -> pd.Series:
    """The row of ``diffs`` comparing ``best`` with the score (in either order) for the best CNN
    and clean accuracy."""
    pair = {(best, "score_paper"), ("score_paper", best)}
    return ((diffs["reference"] == "best_cnn") & (diffs["target"] == "acc_clean")
            & pd.Series([ab in pair for ab in zip(diffs["measure_a"], diffs["measure_b"])], index=diffs.index))


def test_the_population_finding_reads_a_difference_listed_either_way_round(tmp_path: Path) -> None:
    """The best measure's gain over the score reads the same from a row (best, score) as from
    the row (score, best) with the difference and its interval turned around."""
    from xcorr_lib.report import findings

    dest = _population_copy(tmp_path)
    text = findings._population(tmp_path)
    assert "mutual k-NN's does better" in text  # the committed run's best measure, clearly ahead
    path = dest / "population_measure_differences.csv"
    diffs = pd.read_csv(path)
    row = _best_pair(diffs, "mutual_knn")
    assert row.sum() == 1
    flipped = diffs.copy()
    flipped.loc[row, ["measure_a", "measure_b"]] = diffs.loc[row, ["measure_b", "measure_a"]].to_numpy()
    flipped.loc[row, "difference"] = -diffs.loc[row, "difference"]
    flipped.loc[row, "ci_low"], flipped.loc[row, "ci_high"] = -diffs.loc[row, "ci_high"], -diffs.loc[row, "ci_low"]
    flipped.to_csv(path, index=False)
    assert findings._population(tmp_path) == text
    unclear = diffs.copy()
    unclear.loc[row, "ci_low"] = unclear.loc[row, "ci_low"].clip(upper=-0.01)  # the interval now holds 0
    unclear.loc[row, "ci_high"] = unclear.loc[row, "ci_high"].clip(lower=0.01)
    unclear.to_csv(path, index=False)
    assert "mutual k-NN's is the best of the measures, though not clearly" in findings._population(tmp_path)


def test_the_population_finding_when_the_score_itself_is_best(tmp_path: Path) -> None:
    from xcorr_lib.report import findings

    dest = _population_copy(tmp_path)
    pred = pd.read_csv(dest / "population_prediction.csv")
    keep = (pred["measure"] == "score_paper") | (pred["statistic"] != "spearman")
    pred = pred[keep].copy()
    ci = (pred["measure"] == "score_paper") & (pred["statistic"] == "spearman")
    pred.loc[ci, ["value", "ci_low", "ci_high"]] = [0.5, 0.2, 0.7]  # clear of 0
    pred.to_csv(dest / "population_prediction.csv", index=False)
    text = findings._population(tmp_path)
    n_models = len(pd.read_csv(dest / "population_models.csv"))
    assert text.startswith(f"**Across {n_models} networks, the score's alignment with the best CNN tracks clean accuracy.**")
    assert "more |rho| than the score" not in text
