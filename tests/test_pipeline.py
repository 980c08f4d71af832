"""Tests of the notebook runner (xcorr_lib.run.pipeline), the HTML site, the nbval sanitize
file and the Makefile wiring.

Most tests build throwaway notebooks in a temporary folder; three of them start a real
Jupyter kernel through papermill (a few seconds each).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from xcorr_lib.run import pipeline
from xcorr_lib.common import numerics
from xcorr_lib.run.pipeline import NotebookFailed, ProfileError

ROOT = Path(__file__).resolve().parents[1]
REAL_NOTEBOOKS = ROOT / "notebooks"


# ----------------------------------------------------------------------------- helpers

def make_notebook(path: Path, params: str | None, *cells: str, title: str = "# A title",
                  tagged: bool = True) -> Path:
    """Write a notebook: markdown title, parameters cell (tagged), then code cells."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells.append(new_markdown_cell(title))
    if params is not None:
        cell = new_code_cell(params)
        if tagged:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(new_code_cell(src) for src in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def make_profile(notebooks_dir: Path, name: str, content: dict) -> Path:
    path = notebooks_dir / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content))
    return path


OK_BODY = """\
from pathlib import Path
import pandas as pd
from xcorr_lib.common import provenance
df = pd.DataFrame({"profile": [profile], "n": [n], "cwd": [str(Path.cwd())]})
provenance.save_table(df, "t_ok", notebook="01_ok", profile=profile, params={"n": n}, seed=0)
print("n =", n)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """notebooks/ with 01_ok (writes a table), 02_extra (not in the profile), 03_fail."""
    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "01_ok.ipynb", 'profile = "smoke"\nn = 1', OK_BODY)
    make_notebook(nbs / "02_extra.ipynb", 'profile = "smoke"', "print('never runs')")
    make_notebook(nbs / "03_fail.ipynb", 'profile = "smoke"', "print('before the error')",
                  "raise RuntimeError('boom from test')", "print('after the error')")
    make_profile(nbs, "t", {"01_ok": {"n": 5}, "03_fail": None})
    make_profile(nbs, "other", {"01_ok": {}})
    return nbs


# ----------------------------------------------------------------- the real profiles

@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_real_profiles_list_every_notebook(profile: str) -> None:
    table = pipeline.load_profile(profile, REAL_NOTEBOOKS / "profiles")
    stems = {p.stem for p in REAL_NOTEBOOKS.glob("*.ipynb")}
    missing = sorted(stems - set(table))
    assert not missing, f"{profile}.yaml does not list {missing}"


def test_real_profile_keys_have_notebooks() -> None:
    stems = {p.stem for p in REAL_NOTEBOOKS.glob("*.ipynb")}
    for profile in pipeline.list_profiles(REAL_NOTEBOOKS / "profiles"):
        orphans = sorted(set(pipeline.load_profile(profile, REAL_NOTEBOOKS / "profiles")) - stems)
        assert not orphans, f"{profile}.yaml lists notebooks that do not exist: {orphans}"


@pytest.mark.parametrize("path", sorted(REAL_NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_real_notebooks_accept_their_profile_parameters(path: Path) -> None:
    defined = pipeline.notebook_parameters(path)
    nb = nbformat.read(str(path), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{path.name} is committed with outputs; clear them"
    for profile in pipeline.list_profiles(REAL_NOTEBOOKS / "profiles"):
        params = pipeline.load_profile(profile, REAL_NOTEBOOKS / "profiles").get(path.stem, {})
        unknown = sorted(set(params) - set(defined) - {pipeline.NEEDS_KEY})
        assert not unknown, f"{profile}.yaml sets {unknown} not in {path.name}'s parameters cell"


@pytest.mark.parametrize("path", sorted(REAL_NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path: Path) -> None:
    """papermill parses the parameters cell itself (for --help-notebook and its "unknown
    parameter" warning); an ``=`` inside a comment makes it skip that line."""
    import papermill

    assert set(papermill.inspect_notebook(str(path))) == set(pipeline.notebook_parameters(path))


def test_package_imports_from_any_folder(tmp_path: Path) -> None:
    # Kernels run in notebooks/ or results/notebooks/, not the project root. An editable
    # install made before xcorr_lib/__init__.py existed imports as a namespace package
    # there, and `from xcorr_lib import neuron_correlation` fails in every notebook.
    run = subprocess.run([sys.executable, "-c", "import xcorr_lib; print(xcorr_lib.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip().endswith("__init__.py"), (
        f"xcorr_lib is not a regular package outside the project ({run.stdout.strip()}); "
        "reinstall it: .venv/bin/pip install --no-deps -e .")


# ------------------------------------------------------------- configuration errors

def test_unknown_profile_lists_available(project: Path) -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'nope'.*other, t"):
        pipeline.plan("nope", notebooks_dir=project)


def test_plan_skips_unlisted_and_adds_profile(project: Path) -> None:
    runs, skipped = pipeline.plan("t", notebooks_dir=project)
    assert [(name, path.name, params) for name, path, params in runs] == [
        ("01_ok", "01_ok.ipynb", {"n": 5, "profile": "t"}),
        ("03_fail", "03_fail.ipynb", {"profile": "t"})]
    assert skipped == [("02_extra", "not listed in profile 't'")]


def test_override_unknown_to_a_notebook_is_an_error(project: Path) -> None:
    # 03_fail has no parameter n: an override that a notebook does not define is a typo
    with pytest.raises(ProfileError, match=r"03_fail: parameters \['n'\]"):
        pipeline.plan("t", notebooks_dir=project, params_override={"n": 9})
    runs, _ = pipeline.plan("t", notebooks_dir=project, only=["01_ok"], params_override={"n": 9})
    assert runs[0][2] == {"n": 9, "profile": "t"}


def test_profile_parameter_typo_is_an_error(project: Path) -> None:
    make_profile(project, "typo", {"01_ok": {"nn": 3}})
    with pytest.raises(ProfileError, match=r"01_ok: parameters \['nn'\]"):
        pipeline.plan("typo", notebooks_dir=project)


def test_profile_key_without_notebook(project: Path, capsys: pytest.CaptureFixture) -> None:
    make_profile(project, "orphan", {"01_ok": {}, "09_gone": {}})
    with pytest.raises(ProfileError, match="09_gone"):
        pipeline.plan("orphan", notebooks_dir=project)
    runs, _ = pipeline.plan("orphan", notebooks_dir=project, only=["01_ok"])
    assert [r[0] for r in runs] == ["01_ok"]
    assert "warning" in capsys.readouterr().out


def test_only_must_name_listed_notebooks(project: Path) -> None:
    with pytest.raises(ProfileError, match="does not list '02_extra'"):
        pipeline.plan("t", notebooks_dir=project, only=["02_extra"])
    with pytest.raises(ProfileError, match="no notebook '07_x'"):
        pipeline.plan("t", notebooks_dir=project, only=["07_x"])


def test_profile_may_not_set_profile(project: Path) -> None:
    make_profile(project, "bad", {"01_ok": {"profile": "paper"}})
    with pytest.raises(ProfileError, match="sets 'profile'"):
        pipeline.load_profile("bad", project / "profiles")
    make_profile(project, "bad2", {"01_ok": [1, 2]})
    with pytest.raises(ProfileError, match="must be a mapping"):
        pipeline.load_profile("bad2", project / "profiles")


def test_missing_parameters_tag_is_an_error(project: Path) -> None:
    make_notebook(project / "04_untagged.ipynb", 'profile = "smoke"', "1", tagged=False)
    make_profile(project, "u", {"04_untagged": {}})
    with pytest.raises(ProfileError, match="no cell tagged 'parameters'"):
        pipeline.plan("u", notebooks_dir=project)
    # a configuration error stops everything before any kernel starts
    with pytest.raises(ProfileError):
        pipeline.run_notebooks("u", notebooks_dir=project, out_dir=project / "out")
    assert not (project / "out").exists()


def test_parameters_cell_must_set_profile(project: Path) -> None:
    make_notebook(project / "05_noprofile.ipynb", "n = 1", "1")
    make_profile(project, "p", {"05_noprofile": {}})
    with pytest.raises(ProfileError, match="must set `profile`"):
        pipeline.plan("p", notebooks_dir=project)


def test_notebook_parameters_reads_the_cell_with_ast(tmp_path: Path) -> None:
    src = ('profile = "smoke"\nn = 6000   # None = all; the "default" = x\n'
           'w: int = 3\nlayers = [1, 2]  # it\'s a list\nif False:\n    hidden = 1\n')
    path = make_notebook(tmp_path / "a.ipynb", src)
    assert pipeline.notebook_parameters(path) == {
        "profile": '"smoke"', "n": "6000", "w": "3", "layers": "[1, 2]"}
    make_notebook(tmp_path / "b.ipynb", 'profile = "smoke"\nn = (')
    with pytest.raises(ProfileError, match="not valid Python"):
        pipeline.notebook_parameters(tmp_path / "b.ipynb")


def test_cli_exit_codes_and_list(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert pipeline.main(["--profile", "nope", "--notebooks", str(project)]) == 2
    assert "available profiles: other, t" in capsys.readouterr().err
    assert pipeline.main(["--list", "--profile", "t", "--notebooks", str(project)]) == 0
    out = capsys.readouterr().out
    assert "profiles: other, t" in out
    assert 'run  01_ok: {"n": 5, "profile": "t"}' in out
    assert "skip 02_extra: not listed in profile 't'" in out
    with pytest.raises(SystemExit):
        pipeline.main(["--notebooks", str(project)])  # no --profile
    with pytest.raises(SystemExit):
        pipeline.main(["--profile", "t", "--param", "novalue"])


# ------------------------------------------------------------- real kernel runs (3)

def test_run_failing_notebook_stops_and_keeps_partial(project: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "executed"
    with pytest.raises(NotebookFailed, match="03_fail.*RuntimeError: boom from test") as info:
        pipeline.run_notebooks("t", notebooks_dir=project, out_dir=out, progress=False)
    captured = capsys.readouterr()
    assert "skip 02_extra: not listed in profile 't'" in captured.out
    assert "boom from test" in captured.err and "partial executed notebook kept" in captured.err
    # the good notebook ran first, with the profile's parameters, in notebooks/
    ran = nbformat.read(str(out / "01_ok.ipynb"), as_version=4)
    assert ran.metadata.papermill.parameters == {"n": 5, "profile": "t"}
    table = pd.read_csv(Path(os.environ["XCORR_RESULTS_DIR"]) / "tables" / "t_ok.csv")
    assert table.to_dict("records")[0]["n"] == 5 and table.iloc[0]["profile"] == "t"
    assert Path(table.iloc[0]["cwd"]).resolve() == project.resolve()
    manifest = pd.read_csv(Path(os.environ["XCORR_RESULTS_DIR"]) / "manifest.csv")
    assert set(manifest["kind"]) == {"table", "notebook"}
    assert list(manifest.loc[manifest["kind"] == "notebook", "notebook"]) == ["01_ok"]
    # the table (written in the kernel) and the notebook row (by the runner) share one recipe and machine
    assert manifest["recipe"].nunique() == 1 and len(manifest["recipe"][0]) == 16
    machines = [json.loads(m) for m in manifest["machine"]]
    assert machines[0]["cpu_capability"] == machines[1]["cpu_capability"] and not machines[0]["portable"]
    # the failing one is kept, with the output before the error and the error itself
    assert info.value.output == out / "03_fail.ipynb"
    partial = nbformat.read(str(info.value.output), as_version=4)
    texts = [o.get("text", "") + o.get("evalue", "") for c in partial.cells
             if c.cell_type == "code" for o in c.outputs]
    assert any("before the error" in t for t in texts)
    assert any("boom from test" in t for t in texts)
    assert not any("after the error" in t for t in texts)
    assert not (out / "02_extra.ipynb").exists()


def test_kernels_run_without_tcp_ports_and_the_profile_sets_the_mode(project: Path, tmp_path: Path,
                                                                     capfd: pytest.CaptureFixture) -> None:
    make_profile(project, "p", {"portable": True, "01_ok": {}})
    assert pipeline.profile_options("p", project / "profiles") == {"portable": True, "device": "auto"}
    assert "portable" not in pipeline.load_profile("p", project / "profiles")
    pipeline.run_notebooks("p", notebooks_dir=project, out_dir=tmp_path / "executed", progress=False)
    captured = capfd.readouterr()
    assert "TCP" not in captured.out + captured.err  # "Kernel is running over TCP without encryption"
    manifest = pd.read_csv(Path(os.environ["XCORR_RESULTS_DIR"]) / "manifest.csv")
    machine = json.loads(manifest["machine"].iloc[-1])
    if numerics.has_avx2():
        assert "numeric mode: portable" in captured.out
        assert machine["portable"] and machine["cpu_capability"] == "AVX2" and machine["pinned"]["MKL_CBWR"] == "AVX2"
        ran = nbformat.read(str(tmp_path / "executed" / "01_ok.ipynb"), as_version=4)
        assert ran.metadata["xcorr"]["portable"] is True  # nbval replays it in this mode
    assert numerics.is_portable() is False and "XCORR_PORTABLE" not in os.environ  # the runner's own env is restored
    make_profile(project, "bad", {"portable": "yes", "01_ok": {}})
    with pytest.raises(ProfileError, match="portable must be true or false"):
        pipeline.profile_options("bad", project / "profiles")


def test_paper_profiles_are_portable_and_smoke_is_native() -> None:
    options = {p: pipeline.profile_options(p, REAL_NOTEBOOKS / "profiles")["portable"]
               for p in pipeline.list_profiles(REAL_NOTEBOOKS / "profiles")}
    assert options == {"paper": True, "paper-fashion": True, "smoke": False}


def test_cli_runs_only_with_override(project: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "executed"
    code = pipeline.main(["--profile", "t", "--only", "01_ok", "--param", "n=7",
                          "--notebooks", str(project), "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr()
    assert "executed 1 notebook(s)" in capsys.readouterr().out
    ran = nbformat.read(str(out / "01_ok.ipynb"), as_version=4)
    printed = "".join(o.get("text", "") for c in ran.cells if c.cell_type == "code"
                      for o in c.outputs)
    assert "n = 7" in printed
    assert [p.name for p in out.iterdir()] == ["01_ok.ipynb"]


def test_cli_failing_notebook_exit_status(project: Path, tmp_path: Path) -> None:
    code = pipeline.main(["--profile", "t", "--only", "03_fail", "--notebooks", str(project),
                          "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 1
    assert (tmp_path / "x" / "03_fail.ipynb").is_file()


# ------------------------------------------------------------------------ HTML site

def executed_notebook(path: Path, title: str, profile: str = "smoke") -> Path:
    """A notebook that looks executed by papermill (outputs and papermill metadata)."""
    make_notebook(path, f'profile = "{profile}"', "print(1 + 1)", title=title)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[-1].outputs = [new_output("stream", name="stdout", text="2\n")]
    nb.metadata["papermill"] = {"parameters": {"profile": profile, "n": 3}, "exception": None}
    nbformat.write(nb, str(path))
    return path


# -------------------------------------------------------------- nbval sanitize file

def test_nbval_sanitize_file() -> None:
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())
    assert len(patterns) >= 6

    def clean(s: str) -> str:
        for regex, repl in patterns:
            s = re.sub(regex, repl, s)
        return s

    assert clean("<Net object at 0x7f3a2c1b5e50>") == "<Net object at 0xADDRESS>"
    assert clean("train:  45%|####5     | 9/20 [00:01<00:02,  5.00it/s]") == "<progress bar>"
    assert clean("100%|██████████| 20/20 [00:03<00:00,  6.1it/s]\nscore 0.5") == \
        "<progress bar>\nscore 0.5"
    assert clean("0it [00:00, ?it/s]") == "<progress bar>"
    assert clean("trained in 12.5 s, 30 ms per batch") == "trained in <time>, <time> per batch"
    assert clean("Wall time: 1.2 s") == "Wall time: <time>"
    assert clean("saved /tmp/pytest-of-root/pytest-3/x0/a.csv ok") == "saved <tmp path> ok"
    # numbers and words that only look like units stay
    assert clean("score = 0.8123 over 4 seeds, 3 layers") == "score = 0.8123 over 4 seeds, 3 layers"


def _recorded_tqdm_stream(postfixes: list[str]) -> list[str]:
    """The stderr chunks a notebook cell records for one real tqdm bar (leave=False), one
    chunk per write, the way the kernel sends them."""
    from tqdm import tqdm

    class Recorder:
        def __init__(self) -> None:
            self.chunks: list[str] = []

        def write(self, text: str) -> None:
            if text:
                self.chunks.append(text)

        def flush(self) -> None:
            pass

    rec = Recorder()
    bar = tqdm(total=len(postfixes), desc="stitch", leave=False, file=rec, mininterval=0,
               ascii=False, dynamic_ncols=False)
    for postfix in postfixes:
        bar.set_postfix(loss=postfix)
        bar.update(1)
    bar.close()
    return rec.chunks


def test_nbval_sanitize_makes_closed_bars_of_any_width_equal() -> None:
    """Two runs of the same cell whose bars differ only in width (timing, rates, postfix
    digits) must compare equal after nbval's own stream coalescing and our sanitizer, while
    a different printed result must still differ (the CI failure of 2026-11-26)."""
    import nbformat
    from nbval.plugin import coalesce_streams, get_sanitize_patterns

    patterns = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())

    def replay(chunks: list[str], result: str) -> dict[str, str]:
        outs = [nbformat.v4.new_output("stream", name="stderr", text=c) for c in chunks]
        outs.append(nbformat.v4.new_output("stream", name="stdout", text=result))
        merged = {o.name: o.text for o in coalesce_streams(outs)}
        for regex, repl in patterns:
            merged = {k: re.sub(regex, repl, v) for k, v in merged.items()}
        return merged

    short = _recorded_tqdm_stream(["2.3", "1.5", "1.1"])
    wide = _recorded_tqdm_stream(["2.31234", "1.51234567", "10.1123456789"])
    assert "".join(short).count("\r") >= 3 and len("".join(short)) != len("".join(wide))
    table = "target  A  B\nA  0.91  0.88\n"
    assert replay(short, table) == replay(wide, table)
    assert replay(short, table) != replay(short, table.replace("0.88", "0.87"))


# ----------------------------------------------------------------------- Makefile

MAKE = shutil.which("make")


@pytest.mark.skipif(MAKE is None, reason="GNU make not installed")
def test_makefile_quick_equals_all_smoke() -> None:
    def dry(*args: str) -> list[str]:
        run = subprocess.run([MAKE, "-n", "--no-print-directory", "-o", ".venv/.installed", *args],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        return [line for line in run.stdout.splitlines() if "xcorr_lib.run" in line]

    quick = dry("quick")
    assert quick == dry("all", "PROFILE=smoke")
    assert quick and "--profile smoke" in quick[0]
    assert "--profile paper " in dry("all")[0] + " "
    help_text = subprocess.run([MAKE, "--no-print-directory", "help"], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout
    for target in ("all", "quick", "test", "lab", "html", "clean"):
        assert re.search(rf"^\s*{target}\s", help_text, re.MULTILINE), help_text


# ----------------------------------------------------------------------------- needs
def _needs_project(tmp_path: Path) -> Path:
    nbs = tmp_path / "notebooks"
    for name in ("01_a", "02_b", "03_c"):
        make_notebook(nbs / f"{name}.ipynb", 'profile = "smoke"\nn = 1', "print(n)")
    make_profile(nbs, "t", {"01_a": {"needs": ["03_c"]}, "02_b": {"needs": "01_a", "n": 2}, "03_c": {}})
    return nbs


def test_plan_orders_by_needs_and_drops_them_from_the_parameters(tmp_path: Path) -> None:
    runs, _ = pipeline.plan("t", notebooks_dir=_needs_project(tmp_path))
    assert [r[0] for r in runs] == ["03_c", "01_a", "02_b"]
    assert runs[2][2] == {"n": 2, "profile": "t"}


def test_plan_fails_early_naming_a_needed_notebook_that_never_ran(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XCORR_RESULTS_DIR", str(tmp_path / "results"))
    nbs = _needs_project(tmp_path)
    with pytest.raises(ProfileError, match=r"02_b needs the outputs of 01_a, which is not in this run"):
        pipeline.plan("t", notebooks_dir=nbs, only=["02_b"])
    # once 01_a has run with this profile (its executed copy recorded in the manifest) it is fine
    done = tmp_path / "results" / "notebooks" / "01_a.ipynb"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    from xcorr_lib.common import provenance
    provenance.record(done, "notebook", notebook="01_a", profile="t")
    assert [r[0] for r in pipeline.plan("t", notebooks_dir=nbs, only=["02_b"])[0]] == ["02_b"]
    done.unlink()  # a recorded but deleted output does not count
    with pytest.raises(ProfileError, match="01_a"):
        pipeline.plan("t", notebooks_dir=nbs, only=["02_b"])


def test_plan_refuses_unknown_and_circular_needs(tmp_path: Path) -> None:
    nbs = _needs_project(tmp_path)
    make_profile(nbs, "bad", {"01_a": {"needs": ["09_z"]}})
    with pytest.raises(ProfileError, match="01_a needs '09_z', which the profile does not list"):
        pipeline.plan("bad", notebooks_dir=nbs)
    make_profile(nbs, "loop", {"01_a": {"needs": ["02_b"]}, "02_b": {"needs": ["01_a"]}})
    with pytest.raises(ProfileError, match="circular needs"):
        pipeline.plan("loop", notebooks_dir=nbs)


def test_context_records_every_parameter_of_the_parameters_cell(tmp_path: Path, monkeypatch) -> None:
    from xcorr_lib.common import provenance

    monkeypatch.setenv("XCORR_RESULTS_DIR", str(tmp_path / "results"))
    nbs = tmp_path / "notebooks"
    make_notebook(nbs / "09_x.ipynb", 'profile = "smoke"\nseed = 3\nsizes = [1, 2]  # any comment')
    ctx = provenance.context("09_x", {"profile": "paper", "seed": 4, "sizes": [5], "other": 1}, notebooks_dir=nbs)
    assert (ctx.notebook, ctx.profile, ctx.params, ctx.seed) == ("09_x", "paper", {"seed": 4, "sizes": [5]}, 4)
    path = ctx.save_table(pd.DataFrame({"a": [1]}), "t")
    row = pd.read_csv(tmp_path / "results" / "manifest.csv").iloc[-1]
    assert path.is_file() and row.notebook == "09_x" and row.profile == "paper" and row.seed == 4
    assert json.loads(row.parameters) == {"seed": 4, "sizes": [5]}
    with pytest.raises(ValueError, match=r"parameters \['sizes'\] are not defined"):
        provenance.context("09_x", {"profile": "smoke", "seed": 1}, notebooks_dir=nbs)


def test_manifest_records_software_and_keeps_rows_of_an_older_layout(tmp_path: Path, monkeypatch) -> None:
    import torch

    from xcorr_lib.common import provenance

    monkeypatch.setenv("XCORR_RESULTS_DIR", str(tmp_path))
    (tmp_path / "manifest.csv").write_text("timestamp,artifact,kind,notebook,profile,seed,data,git_commit,parameters\n"
                                           "t0,old.csv,table,01_x,smoke,0,d,abc,{}\n")
    provenance.record(tmp_path / "new.csv", "table", notebook="02_y", seed=1)
    manifest = pd.read_csv(tmp_path / "manifest.csv", keep_default_na=False)
    assert list(manifest.columns) == list(provenance.MANIFEST_COLUMNS)
    assert list(manifest["notebook"]) == ["01_x", "02_y"] and manifest["software"][0] == ""
    assert f"torch {torch.__version__}" in manifest["software"][1]
