"""Tests for xcorr_lib.studies.fcn_tables: settings, score tables, ours-vs-paper, figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

from xcorr_lib.data.splits import load_split
from xcorr_lib.nets.evaluate import accuracy_rows
from xcorr_lib.nets.training import train_nets
from xcorr_lib.score.settings import DEFAULT_SETTINGS, ScoreSetting, resolve_settings
from xcorr_lib.studies import fcn_tables as ex
from xcorr_lib.common import paper
from xcorr_lib.nets.models import make_model

NAMES = ["Net1", "Net2", "Net3", "Net4", "Net5"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def brute_forward_original(a: np.ndarray, la: np.ndarray, b: np.ndarray, lb: np.ndarray) -> float:
    """Oracle: mean_u max_v |rho(u, v)| / (1 + |l(u) - l(v)|), constant units -> 0."""
    scores = []
    for i in range(a.shape[1]):
        best = 0.0
        for j in range(b.shape[1]):
            if a[:, i].std() == 0 or b[:, j].std() == 0:
                continue
            rho = abs(np.corrcoef(a[:, i], b[:, j])[0, 1])
            best = max(best, rho / (1 + abs(la[i] - lb[j])))
        scores.append(best)
    return float(np.mean(scores))


def fake_acts(seed: int = 0, m: int = 12) -> dict:
    rng = np.random.default_rng(seed)
    widths = {"Net1": [6], "Net2": [4, 3], "Net3": [3, 4], "Net4": [5, 5], "Net5": [2] * 5, "CNN": [8, 4]}
    acts = {}
    for name, w in widths.items():
        layers = np.repeat(np.arange(len(w)), w)
        acts[name] = (torch.from_numpy(rng.random((m, sum(w)), dtype=np.float32)), layers)
    return acts


def test_settings_resolution_and_errors() -> None:
    s = resolve_settings(DEFAULT_SETTINGS)
    assert [(x.variant, x.direction) for x in s] == [("original", "forward"), ("paper", "both")]
    assert s[0].probe_kind("fashion-mnist") == "noise" and s[0].probe_kind("mnist") == "test"
    assert s[1].probe_kind("fashion-mnist") == "test"
    with pytest.raises(ValueError, match="variant"):
        resolve_settings({"x": {"variant": "v", "direction": "both", "probe": "test"}})
    with pytest.raises(ValueError, match="direction"):
        resolve_settings({"x": {"variant": "paper", "direction": "up", "probe": "test"}})
    with pytest.raises(ValueError, match="probe"):
        resolve_settings({"x": {"variant": "paper", "direction": "both", "probe": "cats"}})
    with pytest.raises(ValueError, match="lacks"):
        resolve_settings({"x": {"variant": "paper"}})
    with pytest.raises(ValueError, match="known"):
        s[0].probe_kind("digits")


def test_fcn_pair_table_matches_brute_force() -> None:
    acts = fake_acts()
    setting = resolve_settings(DEFAULT_SETTINGS)[0]
    df = ex.fcn_pair_table(acts, NAMES, setting)
    assert len(df) == 10
    assert list(zip(df.net_a, df.net_b))[:4] == [("Net1", "Net2"), ("Net1", "Net3"), ("Net1", "Net4"),
                                                 ("Net1", "Net5")]
    for _, r in df.iterrows():
        (a, la), (b, lb) = acts[r.net_a], acts[r.net_b]
        assert r.score == pytest.approx(brute_forward_original(a.numpy(), la, b.numpy(), lb), abs=1e-5)
        assert r.n_units_a == len(la) and r.variant == "original" and r.direction == "forward"


def test_cnn_vs_fcn_table() -> None:
    acts = fake_acts(1)
    setting = ScoreSetting("s", "original", "forward", "test")
    df = ex.cnn_vs_fcn_table(acts, NAMES, setting)
    assert df["net"].tolist() == NAMES and (df["n_units_b"] == 12).all()
    a, la = acts["Net3"]
    b, lb = acts["CNN"]
    assert df.set_index("net").loc["Net3", "score"] == pytest.approx(
        brute_forward_original(a.numpy(), la, b.numpy(), lb), abs=1e-5)
    sym = ex.cnn_vs_fcn_table(acts, NAMES, ScoreSetting("p", "paper", "both", "test"))
    assert ((sym["score"] >= 0) & (sym["score"] <= 1)).all()


def test_compare_and_agreement() -> None:
    ref = paper.table2()
    ours = ref[ref.dataset == "mnist"].drop(columns="paper_score").assign(
        score=lambda d: ref[ref.dataset == "mnist"]["paper_score"] + 0.01, setting="s")
    cmp = ex.compare_table2(ours)
    assert np.allclose(cmp["diff"], 0.01)
    summ = ex.agreement(cmp)
    assert summ.loc[0, "n_cells"] == 10 and summ.loc[0, "rank_corr"] == pytest.approx(1.0)
    text = ex.describe_agreement(summ)
    assert "agrees with the paper" in text and "0.010" in text and "higher" in text
    far = ex.describe_agreement(ex.agreement(cmp.assign(diff=cmp["diff"] - 0.2)))
    assert "differs from the paper by more than" in far and "lower" in far
    t3 = ex.compare_table3(pd.DataFrame({"dataset": ["kmnist"], "net": ["Net5"], "score": [0.5]}))
    assert t3.loc[0, "paper_score"] == 0.549 and t3.loc[0, "diff"] == pytest.approx(-0.049)
    # datasets the paper does not have stay in the table with NaN paper values
    other = ex.compare_table3(pd.DataFrame({"dataset": ["digits"], "net": ["Net5"], "score": [0.5]}))
    assert other["paper_score"].isna().all() and ex.agreement(other).empty


def test_table1_and_accuracy() -> None:
    t1 = ex.table1()
    assert t1.loc["Net4", "hidden (paper)"] == "[196, 392]"
    assert t1.loc["Net4", "hidden (original)"] == "[50, 50]"
    X = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32)
    y = np.arange(20) % 10
    acc = accuracy_rows({"Net1": make_model("Net1", seed=0), "CNN": make_model("CNN", seed=0)}, X, y)
    assert acc["net"].tolist() == ["Net1", "CNN"] and acc["hidden"].tolist() == ["[100]", "conv"]
    assert ((acc["test_acc"] >= 0) & (acc["test_acc"] <= 1)).all()


def test_figures() -> None:
    acts = fake_acts()
    rows = []
    for ds in ["mnist"]:
        for s in resolve_settings(DEFAULT_SETTINGS):
            rows.append(ex.fcn_pair_table(acts, NAMES, s).assign(dataset=ds, net4="paper"))
    cmp = ex.compare_table2(pd.concat(rows))
    fig = ex.plot_table2(cmp, net4="paper")
    assert len(fig.axes) >= 3  # paper + 2 settings (+ colorbars)
    t3 = []
    for s in resolve_settings(DEFAULT_SETTINGS):
        t3.append(ex.cnn_vs_fcn_table(acts, NAMES, s).assign(dataset="mnist", net4="paper"))
    fig3 = ex.plot_table3(ex.compare_table3(pd.concat(t3)), net4="paper")
    assert len(fig3.axes) == 1


def test_unit_activations_counts() -> None:
    pytest.importorskip("xcorr_lib.nets.capture")
    models = {"Net2": make_model("Net2", seed=0), "CNN": make_model("CNN", seed=0)}
    probe = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    acts = ex.unit_activations(models, probe)
    assert tuple(acts["Net2"][0].shape) == (5, 100) and tuple(acts["CNN"][0].shape) == (5, 7008)
    assert np.bincount(acts["CNN"][1]).tolist() == [5408, 1600]


def test_unavailable_dataset_skipped_only_when_asked(tmp_path, capsys) -> None:
    from xcorr_lib.data import DatasetUnavailableError

    assert load_split("kmnist", "official", root=tmp_path, download=False, skip_unavailable=True) is None
    assert "SKIPPED kmnist" in capsys.readouterr().out
    with pytest.raises(DatasetUnavailableError):
        load_split("kmnist", "official", root=tmp_path, download=False)


def test_end_to_end_on_real_data(shared_data) -> None:
    pytest.importorskip("xcorr_lib.nets.capture")
    from xcorr_lib.nets.training import Recipe

    split = load_split("mnist", "test-split", n_train=300, n_test=60, seed=0, root=shared_data)
    assert split is not None and len(split.X_train) == 300 and len(split.X_test) == 60
    quick = Recipe("sgd", 0.1, 1)
    nets = train_nets(split, net4="paper", net4_variants=["paper", "original"], fcn_recipe=quick,
                         cnn_recipe=Recipe("adam", 0.002, 1), with_cnn=True, progress=False)
    assert set(nets) == {"paper", "original"}
    assert list(nets["original"]["Net4"].hidden) == [50, 50]
    settings = resolve_settings({**DEFAULT_SETTINGS,
                                    "on-noise": {"variant": "paper", "direction": "forward", "probe": "noise"}})
    t2 = ex.score_tables(split, nets, settings, table="fcn", net4="paper", n_probes=20)
    assert len(t2) == 3 * 10 + 3 * 4
    probes = t2.groupby("setting")["probe"].unique().map(list).to_dict()
    assert probes == {"original-code": ["test"], "paper-text": ["test"], "on-noise": ["noise"]}
    assert (t2["n_probes"] == 20).all() and t2["score"].between(0, 1).all()
    for col in ["dataset", "net_a", "net_b", "score", "variant", "direction", "probe", "n_probes", "seed", "net4"]:
        assert col in t2.columns
    t3 = ex.score_tables(split, nets, settings, table="cnn", net4="paper", n_probes=10)
    assert len(t3) == 3 * 5 + 3 * 1 and set(t3["n_units_b"]) == {7008}
    acc = ex.accuracy_table(split, nets, net4="paper")
    assert len(acc) == 6 + 1 and acc["test_acc"].between(0, 1).all()


def test_wide_comparison_and_markdown() -> None:
    rows = pd.DataFrame({
        "dataset": ["mnist"] * 3, "net_a": ["Net1", "Net3", "Net3"], "net_b": ["Net2", "Net4", "Net4"],
        "setting": ["s"] * 3, "net4": ["paper", "paper", "original"], "score": [0.6, 0.7, 0.75]})
    wide = ex.wide_comparison(ex.compare_table2(rows), net4="paper")
    assert list(wide.columns) == ["paper", "s", "diff s", "s [Net4=original]", "diff s [Net4=original]"]
    assert wide.loc[("mnist", "Net1", "Net2"), "diff s"] == pytest.approx(0.6 - 0.644)
    assert np.isnan(wide.loc[("mnist", "Net1", "Net2"), "s [Net4=original]"])
    assert wide.loc[("mnist", "Net3", "Net4"), "diff s [Net4=original]"] == pytest.approx(0.75 - 0.733)
    md = ex.markdown_table(wide)
    lines = md.splitlines()
    assert lines[0].startswith("| dataset | net_a | net_b | paper | s |") and lines[1].startswith("|---|")
    assert len(lines) == 2 + 2 and "| 0.644 | 0.600 | -0.044 |  |  |" in lines[2]


def test_setting_ablation_scores_every_combination_beside_its_null() -> None:
    from types import SimpleNamespace

    from xcorr_lib.data.splits import Split
    from xcorr_lib.nets.models import MODEL_NAMES, make_model
    from xcorr_lib.score.null import null_score

    rng = np.random.default_rng(0)
    X, y = rng.random((30, 28, 28), dtype=np.float32), rng.integers(0, 10, 30)
    nets = {"paper": {n: make_model(n, seed=i).eval() for i, n in enumerate(MODEL_NAMES)}}
    run = SimpleNamespace(trained={"mnist": (Split("mnist", X, y, X, y, {}), nets)})
    table = ex.setting_ablation(run, n_probes=10, seed=0)
    assert len(table) == 5 * 2 * 2 * 2 * 2  # pairs x probe x penalty x variant x direction
    assert table.score.between(0, 1).all() and table.null_mean.between(0, 1).all()
    net5 = table[(table.pair == "Net5-CNN") & (table.variant == "original") & (table.direction == "forward")]
    on, off = (net5[(net5.depth_penalty == p) & (net5.probe == "test")].null_mean.item() for p in ("on", "off"))
    assert on == pytest.approx(null_score(np.repeat(np.arange(5), 20), np.repeat([0, 1], [5408, 1600]), 10,
                                          variant="original", direction="forward")[0])
    assert off > on  # without the penalty Net5's units reach the plain max-of-many level
    assert "above_null" in ex.describe_ablation(table)
