"""Tests for xcorr_lib.studies.transfer_attack: Table 4 vs the paper, the score/degradation relation,
and the figures. Oracles: the paper's own cells and a brute-force permutation count."""

from __future__ import annotations

import itertools
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from xcorr_lib.common import paper
from xcorr_lib.nets.evaluate import evaluate_attack, relative_degradation
from xcorr_lib.studies.transfer_attack import (CLASS_NAMES, compare_with_paper, evaluate_variants, example_panel,
                                               format_cell, join_scores, paper_column_markdown,
                                               plot_attack_examples, plot_relation, relation_stats)


def paper_as_ours(dataset: str) -> pd.DataFrame:
    """The paper's Table 4 column of ``dataset`` expressed as our fractions."""
    p = paper.table4()
    p = p[p.dataset == dataset]
    return pd.DataFrame({"dataset": p.dataset, "net": p.net, "acc_clean": p.paper_acc_clean / 100,
                         "acc_attacked": p.paper_acc_attacked / 100,
                         "rel_degradation": p.paper_rel_degradation / 100})


def test_compare_with_paper_roundtrips_the_paper_cells():
    cmp = compare_with_paper(paper_as_ours("fashion-mnist"))
    assert len(cmp) == 6
    assert (cmp["ours"] == cmp["paper"].str.replace(" [copy error]", "", regex=False)).all()
    assert cmp["paper"].str.endswith("[copy error]").sum() == 2  # Net5 and the CNN
    assert cmp["delta_rel_degradation"].abs().max() < 1e-9
    assert cmp.loc[cmp.net == "Net1", "paper"].item() == "86.8 -> 59.5 (31.5%)"


def test_paper_degradation_is_relative_to_clean_accuracy():
    """The paper's percentages follow (clean - attacked) / clean within rounding."""
    p = paper.table4()
    ours = [100 * relative_degradation(c, a) for c, a in zip(p.paper_acc_clean, p.paper_acc_attacked)]
    assert np.abs(np.array(ours) - p.paper_rel_degradation).max() < 0.15
    assert format_cell(96.2, 73.7, 23.4) == "96.2 -> 73.7 (23.4%)"


def test_compare_with_paper_unknown_dataset_and_markdown():
    ours = pd.DataFrame({"dataset": ["digits"], "net": ["Net1"], "acc_clean": [0.9],
                         "acc_attacked": [0.45], "rel_degradation": [0.5]})
    cmp = compare_with_paper(ours)
    assert cmp["paper"].item() == "-" and cmp["ours"].item() == "90.0 -> 45.0 (50.0%)"
    md = paper_column_markdown(compare_with_paper(paper_as_ours("mnist")), "mnist")
    assert md.count("\n") == 7 and "| CNN | 98.9 -> 70.8 (28.4%) | 98.9 -> 70.8 (28.4%) |" in md
    with pytest.raises(ValueError, match="no rows"):
        paper_column_markdown(cmp, "mnist")
    with pytest.raises(ValueError, match="lacks"):
        compare_with_paper(ours.drop(columns="acc_attacked"))


def brute_force_p(x: np.ndarray, y: np.ndarray, stat) -> float:
    """Two-sided exact permutation p-value by enumerating all n! pairings."""
    obs = abs(stat(x, y))
    null = [abs(stat(x, np.array(p))) for p in itertools.permutations(y)]
    return float(np.mean([v >= obs - 1e-12 for v in null]))


def test_relation_stats_against_brute_force():
    rng = np.random.default_rng(1)
    rows = []
    for dataset, sign in (("a", -1.0), ("b", 1.0)):
        score = rng.random(5)
        deg = sign * score + 0.3 * rng.random(5)
        rows += [{"dataset": dataset, "net": f"Net{i + 1}", "score": s, "rel_degradation": d}
                 for i, (s, d) in enumerate(zip(score, deg))]
    df = pd.DataFrame(rows)
    res = relation_stats(df)
    assert list(res.dataset) == ["a", "b"] and (res.n == 5).all()
    for _, r in res.iterrows():
        g = df[df.dataset == r.dataset]
        x, y = g.score.to_numpy(), g.rel_degradation.to_numpy()
        assert r.spearman == pytest.approx(stats.spearmanr(x, y).statistic)
        assert r.kendall == pytest.approx(stats.kendalltau(x, y).statistic)
        assert r.spearman_p == pytest.approx(
            brute_force_p(x, y, lambda a, b: stats.spearmanr(a, b).statistic), abs=1e-9)


def test_relation_stats_perfect_and_degenerate():
    df = pd.DataFrame({"dataset": ["d"] * 5, "net": list("abcde"), "score": [1, 2, 3, 4, 5.0],
                       "rel_degradation": [0.5, 0.4, 0.3, 0.2, 0.1]})
    r = relation_stats(df).iloc[0]
    assert r.spearman == pytest.approx(-1) and r.kendall == pytest.approx(-1)
    assert r.spearman_p == pytest.approx(2 / 120) and r.kendall_p == pytest.approx(2 / 120)
    flat = df.assign(rel_degradation=0.3)
    assert np.isnan(relation_stats(flat).iloc[0].spearman)
    assert np.isnan(relation_stats(df.iloc[:2]).iloc[0].kendall)


@pytest.mark.parametrize("dataset", ["fashion-mnist", "mnist"])  # noise probes / test images
def test_table3_scores_equal_notebook_02s_rows(dataset):
    # notebook 03 scores Table 3 itself; it must give exactly what notebook 02's study writes
    from xcorr_lib.data.splits import Split
    from xcorr_lib.nets.models import MODEL_NAMES, make_model
    from xcorr_lib.score.settings import DEFAULT_SETTINGS, resolve_settings
    from xcorr_lib.studies.fcn_tables import score_tables
    from xcorr_lib.studies.transfer_attack import table3_scores

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 28, 28), dtype=np.float32), rng.integers(0, 10, 40)
    split = Split(dataset, X, y, X, y, {"dataset": dataset, "protocol": "original"})
    nets = {n: make_model(n, seed=i).eval() for i, n in enumerate(MODEL_NAMES)}
    ours = table3_scores(split, nets, n_probes=10, seed=3)
    settings = resolve_settings({"original-code": DEFAULT_SETTINGS["original-code"]})
    nb02 = score_tables(split, {"paper": nets}, settings, table="cnn", net4="paper", n_probes=10, seed=3)
    assert list(ours.net) == list(nb02.net) and ours.score.tolist() == nb02.score.tolist()


def test_join_scores_keeps_common_rows():
    deg = paper_as_ours("mnist")
    scores = paper.table3().rename(columns={"paper_score": "score"})
    joined = join_scores(deg, scores)
    assert list(joined.net) == ["Net1", "Net2", "Net3", "Net4", "Net5"]  # no score for the CNN
    assert joined.loc[joined.net == "Net5", "score"].item() == 0.562
    with pytest.raises(ValueError, match="lacks"):
        join_scores(deg, scores.drop(columns="score"))


def test_paper_own_numbers_relation():
    """The paper's Tables 3 and 4 themselves: the rank correlation per dataset is defined."""
    deg = paper.table4().rename(columns={"paper_rel_degradation": "rel_degradation"})
    scores = paper.table3().rename(columns={"paper_score": "score"})
    res = relation_stats(join_scores(deg, scores))
    assert len(res) == 4 and res.spearman.between(-1, 1).all()


def test_evaluate_attack_zero_clean_accuracy_warns():
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            out = torch.zeros(len(x), 3) + self.w
            out[:, 2] = 1.0
            return out

    X = np.zeros((6, 2, 2), np.float32)
    y = np.array([0, 1, 0, 1, 0, 1])
    with pytest.warns(UserWarning, match="undefined"):
        table = evaluate_attack({"c": Constant()}, X, X, y)
    assert table.acc_clean.item() == 0 and np.isnan(table.rel_degradation.item())
    with pytest.raises(ValueError, match="empty"):
        evaluate_attack({}, X, X, y)


def test_figures():
    rng = np.random.default_rng(0)
    X = rng.random((5, 28, 28), dtype=np.float32)
    y = np.array([0, 1, 2, 3, 4])
    panel = {"name": "fashion-mnist", "X": X, "X_adv": X[::-1].copy(), "y": y, "pred_clean": y,
             "pred_adv": np.array([0, 1, 9, 9, 4]), "class_names": CLASS_NAMES["fashion-mnist"]}
    fig = plot_attack_examples([panel, {**panel, "name": "mnist", "class_names": None}], n=6)
    axes = np.array(fig.axes).reshape(4, 6)
    assert [a.get_title() for a in axes[1, :4]] == ["T-shirt/top", "Trouser", "Ankle boot", "Ankle boot"]
    assert axes[1, 2].title.get_color() == "red" and axes[1, 0].title.get_color() == "black"
    assert axes[3, 2].get_title() == "9" and not axes[0, 5].axison  # 5 images, 6 columns
    with pytest.raises(ValueError, match="same length"):
        plot_attack_examples([{**panel, "y": y[:3]}])
    with pytest.raises(ValueError, match="empty"):
        plot_attack_examples([])
    df = paper_as_ours("mnist").merge(paper.table3().rename(columns={"paper_score": "score"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig2 = plot_relation(df)
    assert len(fig2.axes[0].collections) == 1 and len(fig2.axes[0].texts) == 5
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.mark.filterwarnings("ignore:clean accuracy is 0")
def test_evaluate_variants_and_example_panel():
    torch.manual_seed(0)
    lin = lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10))  # noqa: E731
    nets = {"paper": {"Net1": lin(), "Net4": lin(), "CNN": lin()}, "original": {"Net1": lin(), "Net4": lin()}}
    rng = np.random.default_rng(0)
    X = rng.random((20, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 20)
    table = evaluate_variants(nets, "paper", X, X[::-1].copy(), y)
    assert list(zip(table.net4, table.net)) == [("paper", "Net1"), ("paper", "Net4"), ("paper", "CNN"),
                                                 ("original", "Net4")]
    with pytest.raises(ValueError, match="net4"):
        evaluate_variants(nets, "other", X, X, y)
    panel = example_panel("fashion-mnist", nets["paper"]["CNN"], X, X, y, n=4)
    assert panel["X"].shape == (4, 28, 28) and panel["class_names"] == CLASS_NAMES["fashion-mnist"]
    with torch.no_grad():
        expected = nets["paper"]["CNN"](torch.as_tensor(X[:4])).argmax(1).numpy()
    np.testing.assert_array_equal(panel["pred_clean"], expected)


def test_the_two_fashion_copy_errors_are_flagged_and_can_be_left_out():
    t4 = paper.table4()
    flagged = t4[t4.copy_error != ""]
    assert set(zip(flagged.dataset, flagged.net)) == {("fashion-mnist", "Net5"), ("fashion-mnist", "CNN")}
    assert (flagged.paper_acc_attacked == 59.5).all() and "net1.predict" in flagged.copy_error.iloc[0]
    from xcorr_lib.studies.transfer_attack import paper_relation
    assert "Net5" in set(paper_relation(["fashion-mnist"]).net)
    assert list(paper_relation(["fashion-mnist"], copy_errors=False).net) == ["Net1", "Net2", "Net3", "Net4"]
    ours = pd.DataFrame({"dataset": ["fashion-mnist"], "net": ["Net5"], "acc_clean": [0.8], "acc_attacked": [0.5],
                         "rel_degradation": [0.375]})
    assert compare_with_paper(ours).paper.iloc[0].endswith("[copy error]")
