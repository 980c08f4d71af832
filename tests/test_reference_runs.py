"""`make reference`: seeds collected one by one, skipped by recipe, never pooled across recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from xcorr_lib.report import reference
from xcorr_lib.run import reference as runs


def _finished_run(folder: Path, seed: int, recipes: dict[str, str], score: float = 0.5) -> Path:
    (folder / "tables").mkdir(parents=True)
    (folder / "notebooks").mkdir()
    pd.DataFrame({"net": ["Net1"], "score": [score]}).to_csv(folder / "tables" / "table2_fcn_correlations.csv", index=False)
    rows = [{"artifact": f"x/{nb}.ipynb", "kind": "notebook", "notebook": nb, "seed": seed, "recipe": r}
            for nb, r in recipes.items()]
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    for nb in recipes:
        (folder / "notebooks" / f"{nb}.ipynb").write_text(json.dumps({"metadata": {"papermill": {"duration": 60.0}}}))
    return folder


def test_collect_seed_replaces_one_seed_and_keeps_the_others(tmp_path: Path) -> None:
    dest = tmp_path / "ref"
    (dest / "seed-7").mkdir(parents=True)
    (dest / "seed-7" / "manifest.csv").write_text("notebook,recipe\n01_fcn_correlations,a\n")
    (dest / ".seed-3.partial").mkdir()  # left by a killed collect
    run = _finished_run(tmp_path / "runs" / "seed-3", 3, {"01_fcn_correlations": "a"})
    reference.collect_seed(run, dest / "seed-3")
    first = (dest / "seed-3" / "table2_fcn_correlations.csv").read_text()
    _finished_run(tmp_path / "again" / "seed-3", 3, {"01_fcn_correlations": "a"}, score=0.25)
    written = reference.collect_seed(tmp_path / "again" / "seed-3", dest / "seed-3")
    assert sorted(p.name for p in written) == ["manifest.csv", "runtime.csv", "table2_fcn_correlations.csv"]
    assert (dest / "seed-3" / "table2_fcn_correlations.csv").read_text() != first
    assert sorted(p.name for p in dest.iterdir()) == ["seed-3", "seed-7"]  # no partial or old copy left
    assert reference.read_reference(dest, "runtime").to_dict("records") == [
        {"notebook": "01_fcn_correlations", "seconds": 60, "seed": 3}]
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        reference.collect_seed(tmp_path / "nothing", dest / "seed-4")


def test_seeds_of_different_recipes_are_named_and_never_pooled(tmp_path: Path) -> None:
    dest = tmp_path / "ref"
    for seed, recipe in [(0, "aaaa"), (1, "aaaa"), (2, "bbbb")]:
        reference.collect_seed(_finished_run(tmp_path / "runs" / f"seed-{seed}", seed,
                                             {"01_fcn_correlations": recipe, "02_cnn_vs_fcn": "cccc"}), dest / f"seed-{seed}")
    (dest / "seed-4").mkdir()
    (dest / "seed-4" / "manifest.csv").write_text("artifact,notebook\nx,01_fcn_correlations\n")  # before recipes
    found = reference.recipes(dest)
    assert set(found["seed"]) == {0, 1, 2, 4} and found.query("seed == 4")["recipe"].tolist() == [""]
    with pytest.raises(reference.RecipeMismatch) as err:
        reference.read_reference(dest, "table2_fcn_correlations")
    message = str(err.value)
    assert "aaaa (seeds 0, 1)" in message and "bbbb (seed 2)" in message and "no recipe recorded (seed 4)" in message
    assert "02_cnn_vs_fcn" not in message  # one recipe there (seed 4 did not run it)
    for seed in (2, 4):
        reference.collect_seed(_finished_run(tmp_path / "new" / f"seed-{seed}", seed,
                                             {"01_fcn_correlations": "aaaa", "02_cnn_vs_fcn": "cccc"}), dest / f"seed-{seed}")
    assert sorted(reference.read_reference(dest, "table2_fcn_correlations")["seed"]) == [0, 1, 2, 4]


def test_pending_seeds_skips_only_seeds_of_the_current_recipe(tmp_path: Path) -> None:
    seeds = [0, 1, 2, 3]
    for seed in (0, 1):
        want = runs.expected_recipes(runs.seed_notebooks(seed, seeds), seed)
        reference.collect_seed(_finished_run(tmp_path / "runs" / f"seed-{seed}", seed, want), tmp_path / "ref" / f"seed-{seed}")
    old = dict(runs.expected_recipes(runs.SEED_NOTEBOOKS, 2), **{"02_cnn_vs_fcn": "0123456789abcdef"})
    reference.collect_seed(_finished_run(tmp_path / "runs" / "seed-2", 2, old), tmp_path / "ref" / "seed-2")
    assert runs.pending_seeds(seeds, tmp_path / "ref") == {2: "02_cnn_vs_fcn made under another recipe",
                                                           3: "not collected yet"}
    assert set(runs.expected_recipes(runs.seed_notebooks(0, seeds), 0)) == set(runs.FIRST_SEED_NOTEBOOKS)


def test_a_recipe_ignores_the_seed_but_not_the_parameters() -> None:
    assert runs.expected_recipes(runs.SEED_NOTEBOOKS, 0) == runs.expected_recipes(runs.SEED_NOTEBOOKS, 7)
    assert runs.expected_recipes(runs.SEED_NOTEBOOKS, 0, portable=False) != runs.expected_recipes(runs.SEED_NOTEBOOKS, 0)
    assert runs.expected_recipes(["02_cnn_vs_fcn"], profile="smoke") != runs.expected_recipes(["02_cnn_vs_fcn"])


def test_parse_seeds() -> None:
    assert runs.parse_seeds("0-9") == list(range(10))
    assert runs.parse_seeds("3, 0 5-6 5") == [0, 3, 5, 6]
    for bad in ("", "a", "1-x", "-3"):
        with pytest.raises(ValueError, match="seeds"):
            runs.parse_seeds(bad)


def test_dry_run_says_what_would_run(capsys) -> None:
    assert runs.main(["fashion", "--seeds", "0-1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seed 0: ") and "seed 1: " in out
    assert runs.main(["fashion", "--seeds", "x"]) == 2
    assert "is not N or N-M" in capsys.readouterr().err


def test_compare_tables_finds_the_first_differing_line(tmp_path: Path) -> None:
    ours, committed = tmp_path / "ours", tmp_path / "committed"
    for folder in (ours, committed):
        folder.mkdir()
        (folder / "table1_accuracy.csv").write_text("net,test_acc\nNet1,0.85\n")
        (folder / "table2_fcn_correlations.csv").write_text("net_a,score\nNet1,0.19602094\n")
    assert runs.compare_tables(ours, committed) == []
    (ours / "table2_fcn_correlations.csv").write_text("net_a,score\nNet1,0.19602095\n")
    (ours / "table1_accuracy.csv").unlink()
    problems = runs.compare_tables(ours, committed)
    assert problems[0].startswith("table1_accuracy.csv missing")
    assert problems[1] == "table2_fcn_correlations.csv differs at line 2: 'Net1,0.19602095' here, 'Net1,0.19602094' committed"


def test_population_is_skipped_only_under_the_current_recipe(tmp_path: Path, monkeypatch, capsys) -> None:
    want = runs.expected_recipes(runs.POPULATION_NOTEBOOKS)
    dest = tmp_path / "population"
    monkeypatch.setattr(reference, "POPULATION", dest)  # absolute: the project root's / keeps it
    dest.mkdir(parents=True)
    for recipe, verdict in [(None, "to run"), ("", "to run"), ("0123456789abcdef", "to run"),
                            (want["08_population"], "skipped")]:
        rows = {"artifact": ["t.csv"], "notebook": ["08_population"]}
        if recipe is not None:
            rows["recipe"] = [recipe]
        pd.DataFrame(rows).to_csv(dest / "manifest.csv", index=False)
        assert runs.population(dry_run=True) == 0
        assert verdict in capsys.readouterr().out
    assert reference.recipes_of(tmp_path / "nowhere").empty


def _verify_run(folder: Path, cpu: str, threads: int, commit: str = "b963b3ecf89d") -> Path:
    machine = {"cpu": cpu, "cores": 2, "torch_threads": threads, "portable": True, "cpu_capability": "AVX2"}
    folder.mkdir(parents=True)
    pd.DataFrame([{"timestamp": "2026-12-07T14:51:00+00:00", "artifact": "t.csv", "kind": "table", "notebook": "01_fcn_correlations",
                   "git_commit": commit, "recipe": "101caf198a3e2112", "machine": json.dumps(machine)},
                  {"timestamp": "2026-12-07T14:51:02+00:00", "artifact": "x.ipynb", "kind": "notebook",
                   "notebook": "01_fcn_correlations", "git_commit": commit, "recipe": "101caf198a3e2112",
                   "machine": json.dumps(machine)}]).to_csv(folder / "manifest.csv", index=False)
    return folder


def test_a_verification_is_logged_with_the_reruns_own_machine(tmp_path: Path) -> None:
    log = tmp_path / "reference" / "verifications.csv"
    assert reference.read_verifications(log).empty
    run = _verify_run(tmp_path / "run", "AMD EPYC", threads=1)
    reference.record_verification(log, reference.verification_row(run, 0, [], avx512=True, note="one core"))
    problems = ["table2_fcn_correlations.csv differs at line 2: 'a' here, 'b' committed"]
    reference.record_verification(log, reference.verification_row(run, 0, problems, avx512=False))
    rows = reference.read_verifications(log)
    assert list(rows.columns) == list(reference.VERIFICATION_COLUMNS)
    assert rows["identical"].tolist() == [True, False] and rows["avx512"].tolist() == [True, False]
    assert rows["differing"].tolist() == ["", "table2_fcn_correlations.csv"]
    first = rows.iloc[0]
    assert (first["commit"], first["recipe"], first["torch_threads"], first["note"], first["date"]) == \
        ("b963b3ecf89d", "101caf198a3e2112", 1, "one core", "2026-12-07")
    assert not list(log.parent.glob(".*tmp*"))  # written whole, then renamed
    dirty = reference.verification_row(_verify_run(tmp_path / "dirty", "AMD EPYC", 2, commit="b963b3ecf89d-dirty"), 0,
                                       [], avx512=True)
    with pytest.raises(ValueError, match="uncommitted code"):
        reference.record_verification(log, dirty)
    assert len(reference.read_verifications(log)) == 2
    (tmp_path / "empty").mkdir()
    pd.DataFrame([{"kind": "table"}]).to_csv(tmp_path / "empty" / "manifest.csv", index=False)
    with pytest.raises(ValueError, match="no finished notebook"):
        reference.verification_row(tmp_path / "empty", 0, [], avx512=True)


def test_the_verified_section_says_whether_another_cpu_model_reproduced_it(tmp_path: Path) -> None:
    from xcorr_lib.report import sections

    _verify_run(tmp_path / reference.FASHION / "seed-0", "AMD EPYC", threads=2, commit="5577beda2d83")
    log = tmp_path / reference.VERIFICATIONS
    assert "No rerun" in sections.fashion_verified(tmp_path)
    same = reference.verification_row(_verify_run(tmp_path / "r1", "AMD EPYC", threads=1), 0, [], avx512=True)
    reference.record_verification(log, same)
    text = sections.fashion_verified(tmp_path)
    assert "1 rerun of seed 0" in text and "| 2026-12-07 | `b963b3ecf89d` | AMD EPYC, AVX-512, 2 cores | 1 |" in text
    assert "another x86-64 CPU with AVX2 is still missing" in text
    other = reference.verification_row(_verify_run(tmp_path / "r2", "Intel Xeon", threads=4), 0, [], avx512=False)
    reference.record_verification(log, other)
    bad = reference.verification_row(_verify_run(tmp_path / "r3", "Intel Core", threads=4), 0,
                                     ["table1_accuracy.csv differs at line 3"], avx512=False)
    reference.record_verification(log, bad)
    native = reference.verification_row(_verify_run(tmp_path / "r4", "AMD EPYC", threads=2), 0,
                                        ["table2_fcn_correlations.csv differs at line 2"], avx512=True)
    reference.record_verification(log, {**native, "portable": False})
    text = sections.fashion_verified(tmp_path)
    assert "Portable reruns were identical on 1 CPU model other than the reference's: Intel Xeon." in text
    assert "1 portable rerun differed" in text and "differ: table1_accuracy.csv" in text
    assert "1 native rerun (the negative control" in text and "| native |" in text


def test_a_failed_run_is_one_line_not_a_traceback(monkeypatch, capsys) -> None:
    def fails(*args, **kwargs):
        raise RuntimeError("01_fcn_correlations failed (exit 2); see results/reference/verify/seed-0.log")

    monkeypatch.setattr(runs, "verify", fails)
    assert runs.main(["verify", "--seeds", "0"]) == 2
    assert capsys.readouterr().err == "error: 01_fcn_correlations failed (exit 2); see results/reference/verify/seed-0.log\n"
