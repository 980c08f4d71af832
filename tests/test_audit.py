"""Tests of xcorr_lib.studies.audit: null calibration against the analytic null, tables, figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from xcorr_lib.nets.capture import capture_all
from xcorr_lib.studies import audit
from xcorr_lib.score.null import expected_max_abs_corr


def gaussian_acts(seed: int, m: int, sizes: dict[str, int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Independent Gaussian units, every unit at depth 0."""
    rng = np.random.default_rng(seed)
    return {k: (rng.normal(size=(m, n)).astype(np.float32), np.zeros(n, dtype=np.int64))
            for k, n in sizes.items()}


def related_acts(seed: int, m: int = 200) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Model B is a noisy linear read-out of model A's units (two depths each)."""
    rng = np.random.default_rng(seed)
    xa = rng.normal(size=(m, 30))
    xb = np.hstack([xa[:, :20] + 0.3 * rng.normal(size=(m, 20)), rng.normal(size=(m, 15))])
    return {"A": (xa.astype(np.float32), np.repeat([0, 1], 15)),
            "B": (xb.astype(np.float32), np.repeat([0, 1], [20, 15]))}


# ---------- probe subsets ----------

def test_probe_indices_are_seeded_sorted_subsets() -> None:
    idx = audit.probe_indices(100, 10, repeat=0, seed=3)
    assert len(set(idx)) == 10 and np.all(np.diff(idx) > 0) and idx.max() < 100
    np.testing.assert_array_equal(idx, audit.probe_indices(100, 10, repeat=0, seed=3))
    assert not np.array_equal(idx, audit.probe_indices(100, 10, repeat=1, seed=3))
    np.testing.assert_array_equal(audit.probe_indices(50, 50, 0, 0), np.arange(50))
    for bad in (2, 101):
        with pytest.raises(ValueError, match="probe size"):
            audit.probe_indices(100, bad, 0, 0)


# ---------- null calibration (acceptance: synthetic null close to the analytic value) ----------

@pytest.mark.parametrize(("m_pool", "sizes"), [(400, [10, 40, 400])])
def test_null_calibration_matches_analytic_max_abs_corr(m_pool: int, sizes: list[int]) -> None:
    acts = gaussian_acts(0, m_pool, {"A": 40, "B": 1500})
    table = audit.null_calibration(acts, [("A", "B")], sizes, null_kinds=["shuffled"], n_repeats=3,
                                   seed=1)
    assert list(table.probe_size) == sizes
    for row in table.itertuples():
        expected = 0.5 * (expected_max_abs_corr(row.probe_size, 1500) + expected_max_abs_corr(row.probe_size, 40))
        assert row.expected_max_abs_rho == pytest.approx(expected, rel=1e-9)
        # 40 + 1500 unit maxima over 3 repeats: the mean is tight around its expectation
        assert row.null_score == pytest.approx(expected, abs=0.02)
        assert row.chance_max_abs_rho == pytest.approx(expected, abs=0.02)
        assert abs(row.difference) < 0.03  # unrelated "trained" pair: no signal either
    ten = table[table.probe_size == 10].iloc[0]
    assert ten.expected_max_abs_rho > 0.6  # with 10 probes, chance alone scores high
    assert expected_max_abs_corr(10, 7008) > 0.9  # the CNN's 7008 units as candidates


def test_null_calibration_separates_signal_from_null() -> None:
    acts = related_acts(0)
    untrained = gaussian_acts(5, 200, {"B": 35})
    untrained["B"] = (untrained["B"][0], acts["B"][1])
    table = audit.null_calibration(acts, [("A", "B")], [20, 200], untrained=untrained, n_repeats=2)
    assert set(table.null_kind) == {"shuffled", "untrained"}
    assert len(table) == 4
    big = table[table.probe_size == 200]
    assert (big.difference > 0.3).all()
    np.testing.assert_allclose(table.difference, table.score - table.null_score)
    expected_cols = {"pair", "probe_size", "score", "null_score", "null_kind", "difference",
                     "chance_max_abs_rho", "expected_max_abs_rho"}
    assert expected_cols <= set(table.columns)


def test_null_calibration_errors() -> None:
    acts = related_acts(1)
    with pytest.raises(ValueError, match="untrained=..."):
        audit.null_calibration(acts, [("A", "B")], [10], null_kinds=["untrained"])
    with pytest.raises(ValueError, match="'permuted'"):
        audit.null_calibration(acts, [("A", "B")], [10], null_kinds=["permuted"])
    with pytest.raises(ValueError, match="no activations"):
        audit.null_calibration(acts, [("A", "C")], [10], null_kinds=["shuffled"])
    short = {"A": acts["A"], "B": (acts["B"][0][:100], acts["B"][1])}
    with pytest.raises(ValueError, match="same probe pool"):
        audit.score_curve(short, [("A", "B")], [10])


def test_score_curve_options() -> None:
    acts = related_acts(2)
    plain = audit.score_curve(acts, [("A", "B")], [50, 200], n_repeats=2)
    assert plain.shape[0] == 4  # size 200 = the whole pool: the same subset in every repeat
    full = plain[plain.probe_size == 200].score
    assert full.iloc[0] == full.iloc[1]
    assert set(plain.columns) >= {"model_a", "model_b", "pair", "probe_size", "repeat", "score"}
    shuffled = audit.score_curve(acts, [("A", "B")], [200], shuffle=True)
    assert shuffled.score.iloc[0] < plain[plain.probe_size == 200].score.iloc[0] - 0.3
    flat = audit.score_curve(acts, [("A", "B")], [200], ignore_layers=True)
    assert flat.score.iloc[0] >= plain[plain.probe_size == 200].score.iloc[0]  # no depth penalty


def test_probe_size_table_has_kinds_and_sizes() -> None:
    kinds = {"images": related_acts(3), "noise": gaussian_acts(4, 200, {"A": 30, "B": 35})}
    kinds["noise"] = {k: (v[0], kinds["images"][k][1]) for k, v in kinds["noise"].items()}
    table = audit.probe_size_table(kinds, [("A", "B")], [10, 50, 200], n_repeats=2)
    assert len(table) == 6 and set(table.probe_kind) == {"images", "noise"}
    by = table.set_index(["probe_kind", "probe_size"]).score
    assert by[("images", 200)] > by[("noise", 200)] + 0.3


# ---------- seeds and alignment vs robustness ----------

def synthetic_runs(n_seeds: int = 3) -> pd.DataFrame:
    rows = []
    for s in range(n_seeds):
        for i, net in enumerate(["Net1", "Net2", "Net3", "Net4", "Net5"]):
            score = 0.3 + 0.1 * i + 0.01 * s
            rows += [{"seed": s, "quantity": "accuracy", "net": net, "partner": "", "value": 0.8 + 0.01 * s},
                     {"seed": s, "quantity": "rel_degradation", "net": net, "partner": "",
                      "value": 0.6 - score + 0.001 * s},
                     {"seed": s, "quantity": "score", "net": net, "partner": "CNN", "value": score}]
        rows.append({"seed": s, "quantity": "accuracy", "net": "CNN", "partner": "", "value": 0.9})
    return pd.DataFrame(rows)


def test_seed_variability_summarizes_over_seeds() -> None:
    summary = audit.seed_variability(synthetic_runs()).set_index(["quantity", "name"])
    row = summary.loc[("score", "Net1-CNN")]
    assert row.n == 3 and row["mean"] == pytest.approx(0.31)
    assert row.ci_low < row["mean"] < row.ci_high
    assert summary.loc[("accuracy", "CNN")].sd == 0.0


def test_alignment_vs_robustness_on_a_perfect_relation() -> None:
    points = audit.alignment_points(synthetic_runs())
    assert len(points) == 15 and set(points.columns) == {"seed", "net", "score", "rel_degradation"}
    table = audit.alignment_vs_robustness(points, n_boot=300, n_resamples=999).set_index("statistic")
    assert table.loc["spearman", "value"] == pytest.approx(-1.0)
    assert table.loc["kendall", "value"] == pytest.approx(-1.0)
    assert table.loc["spearman", "p_value"] <= 0.002
    assert table.loc["spearman", "ci_high"] <= -0.99
    assert table.loc["spearman_within_seed", "n"] == 3
    assert set(table.columns) >= {"value", "ci_low", "ci_high", "n", "p_value"}


def test_alignment_needs_attack_rows() -> None:
    runs = synthetic_runs()
    with pytest.raises(ValueError, match="rel_degradation"):
        audit.alignment_points(runs[runs.quantity != "rel_degradation"])


# ---------- measures comparison ----------

def test_measures_table_and_agreement() -> None:
    acts = gaussian_acts(6, 150, {"A": 8, "N": 8})
    xa = acts["A"][0]
    rng = np.random.default_rng(0)
    for k, noise in (("B", 0.2), ("C", 1.0), ("D", 3.0)):
        acts[k] = ((xa @ rng.normal(size=(8, 8)) + noise * rng.normal(size=(150, 8))).astype(np.float32),
                   np.zeros(8, dtype=np.int64))
    pairs = [("A", k) for k in ("B", "C", "D", "N")]
    measures = ["linear_cka", "svcca", "rsa", "rbf_cka"]
    table = audit.measures_table(acts, pairs, measures)
    assert len(table) == 16 and set(table.measure) == set(measures)
    assert (table.warning == "").all()
    agree = audit.measure_agreement(table)
    assert len(agree) == 6
    np.testing.assert_allclose(agree.kendall_tau, 1.0)  # the noise level orders every measure


def test_every_measure_sits_beside_its_shuffled_probe_null() -> None:
    acts = gaussian_acts(8, 200, {"A": 8})
    rng = np.random.default_rng(1)
    acts["B"] = ((acts["A"][0] @ rng.normal(size=(8, 6)) + 0.3 * rng.normal(size=(200, 6))).astype(np.float32),
                 np.zeros(6, dtype=np.int64))
    measures = ["neuron_correlation", "linear_cka", "mutual_knn", "cknna"]
    table = audit.measures_table(acts, [("A", "B")], measures, n_null=8, seed=3).set_index("measure")
    assert (table.n_null == 8).all() and (table.value > table.null_mean + 3 * table.null_sd).all()
    assert table.loc["mutual_knn", "null_mean"] == pytest.approx(10 / 199, abs=0.02)  # k / (M - 1)
    again = audit.measures_table(acts, [("A", "B")], measures, n_null=8, seed=3).set_index("measure")
    assert again.null_mean.equals(table.null_mean)  # seeded
    text = audit.describe_nulls(table.reset_index())
    assert "mutual_knn: mean" in text and "in 1 of 1 pairs" in text
    assert "null_mean" not in audit.measures_table(acts, [("A", "B")], ["rsa"])


def test_measures_table_records_warnings() -> None:
    acts = gaussian_acts(7, 12, {"A": 30, "B": 30})
    table = audit.measures_table(acts, [("A", "B")], ["svcca", "linear_cka"])
    assert "by construction" in table.set_index("measure").loc["svcca", "warning"]


# ---------- figures ----------

def test_figures_are_built() -> None:
    acts = related_acts(4)
    nulls = audit.null_calibration(acts, [("A", "B")], [10, 50], null_kinds=["shuffled"])
    figs = [audit.plot_null_calibration(nulls)]
    kinds = audit.probe_size_table({"images": acts}, [("A", "B")], [10, 50])
    figs.append(audit.plot_probe_size(kinds))
    runs = synthetic_runs(2)
    figs.append(audit.plot_seed_variability(audit.seed_variability(runs)))
    pts = audit.alignment_points(runs)
    figs.append(audit.plot_alignment(pts, audit.alignment_vs_robustness(pts, n_boot=100, n_resamples=99)))
    table = audit.measures_table(acts | {"C": related_acts(5)["B"], "D": related_acts(6)["B"]},
                                 [("A", "B"), ("A", "C"), ("A", "D")], ["linear_cka", "rsa"])
    figs.append(audit.plot_measures(table, audit.measure_agreement(table)))
    import matplotlib.pyplot as plt

    for fig in figs:
        assert fig.axes
        plt.close(fig)


# ---------- answers ----------

def test_answer_paragraphs_quote_the_tables() -> None:
    acts = related_acts(7)
    nulls = audit.null_calibration(acts, [("A", "B")], [10, 200], null_kinds=["shuffled"])
    text = audit.describe_null(nulls)
    assert f"{nulls.score.iloc[0]:.2f}" in text and "by chance" in text
    sizes = audit.probe_size_table({"images": acts, "noise": acts}, [("A", "B")], [10, 200])
    assert "for 0 of 1 pairs" in audit.describe_probe_size(sizes)  # identical kinds: never higher
    assert "3 seeds" in audit.describe_seeds(audit.seed_variability(synthetic_runs()))
    pts = audit.alignment_points(synthetic_runs())
    stats_table = audit.alignment_vs_robustness(pts, n_boot=200, n_resamples=99)
    assert "support the claim" in audit.describe_alignment(stats_table)
    flipped = pts.assign(rel_degradation=-pts.rel_degradation)
    assert "contradict" in audit.describe_alignment(audit.alignment_vs_robustness(flipped, n_boot=200, n_resamples=99))
    agree = pd.DataFrame({"measure_a": ["neuron_correlation", "neuron_correlation", "linear_cka"],
                          "measure_b": ["linear_cka", "rsa", "rsa"], "kendall_tau": [0.5, 0.1, -0.2],
                          "p_value": [0.1, 0.5, 0.6], "n_pairs": [10, 10, 10]})
    text = audit.describe_measures(agree)
    assert "0.30" in text and "linear_cka, 0.50" in text and "-0.20" in text


# ---------- with real (tiny, untrained) networks ----------

def test_seed_runs_with_untrained_networks() -> None:
    pytest.importorskip("xcorr_lib.nets.capture")
    rng = np.random.default_rng(0)
    X = rng.random((60, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 60)
    models = {0: audit.untrained_models(["Net1", "Net5", "CNN"], seed=0),
              1: audit.untrained_models(["Net1", "Net5", "CNN"], seed=1)}
    X_adv = np.clip(X + 0.1, 0, 1)
    runs = audit.seed_runs(models, X, y, X[:20], [("Net1", "CNN"), ("Net5", "CNN")], X_adv=X_adv)
    assert set(runs.quantity) == {"accuracy", "accuracy_attacked", "rel_degradation", "score"}
    assert len(runs[runs.quantity == "score"]) == 4
    assert runs.value.between(-1, 1).all()  # degradations can be negative, never beyond
    acts = capture_all(models[0], X[:20])
    assert acts["CNN"][0].shape == (20, 7008) and acts["Net1"][1].tolist() == [0] * 100


def test_alignment_inference_treats_networks_as_the_independent_units() -> None:
    rng = np.random.default_rng(0)
    nets = ["Net1", "Net2", "Net3", "Net4", "Net5"]
    rows = [{"seed": s, "net": n, "score": 0.1 * i + 0.01 * rng.normal(), "rel_degradation": 0.5 - 0.05 * i}
            for s in range(3) for i, n in enumerate(nets)]
    table = audit.alignment_vs_robustness(pd.DataFrame(rows), n_boot=300, n_resamples=999)
    clustered = table.set_index("statistic").loc["spearman_clustered"]
    pooled = table.set_index("statistic").loc["spearman"]
    assert clustered.n == 5 and pooled.n == 15  # 5 networks, not 15 points
    assert clustered.value == pytest.approx(pooled.value)
    assert clustered.p_value == pytest.approx(2 / 120)  # exact over 5! network permutations: only +-1 reach |rho| = 1
    assert clustered.p_value > pooled.p_value  # 15 pseudo-replicated points look far more certain
    text = audit.describe_alignment(table)
    assert "5 networks as the independent units" in text and "support the claim" in text


def test_probe_kind_sentence_follows_the_numbers() -> None:
    base = {"model_a": "A", "model_b": "B", "score_sd": 0.0, "n_repeats": 1, "n_units_a": 1, "n_units_b": 1}
    rows = [{**base, "pair": p, "probe_kind": k, "probe_size": m, "score": v}
            for p, (vi, vn) in {"A-B": (0.5, 0.6), "C-D": (0.4, 0.3)}.items()
            for m in (10, 50) for k, v in (("images", vi), ("noise", vn))]
    mixed = audit.describe_probe_size(pd.DataFrame(rows))
    assert "does not move every pair the same way" in mixed and "depends on what the probes are" not in mixed
    same = [dict(r, score=r["score"] + (0.2 if r["probe_kind"] == "noise" else 0)) for r in rows]
    assert "depends on what the probes are" in audit.describe_probe_size(pd.DataFrame(same))
