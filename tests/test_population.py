"""The population study's parts: design, model specs, the activation store, the statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib.nets.family import ModelSpec, build_model, n_params, train_spec
from xcorr_lib.nets.models import CNN, make_cnn
from xcorr_lib.nets.store import stored_acts
from xcorr_lib.studies import population as pop


def test_the_paper_population_is_what_the_issue_asks() -> None:
    specs = pop.population("paper")
    trained = [s for s in specs if s.trained]
    assert len(trained) >= 60 and len(specs) - len(trained) >= 5
    fcn_depths = {len(s.widths) for s in trained if s.kind == "fcn"}
    widths = {w for s in trained if s.kind == "fcn" for w in s.widths}
    assert fcn_depths == {1, 2, 3, 4, 5} and min(widths) == 16 and max(widths) == 512
    assert {s.epochs for s in trained} >= {1, 20} and {s.dropout for s in trained} == {0.0, 0.5}
    assert len({s.recipe().lr for s in trained}) >= 3 and len({s.seed for s in trained}) >= 3
    assert len({s.name for s in specs}) == len(specs)
    assert len(pop.population("smoke")) >= 10
    with pytest.raises(ValueError, match="size"):
        pop.population("huge")


def test_model_specs_build_the_right_networks() -> None:
    cnn = build_model(ModelSpec("cnn", (8, 16), 1))
    assert isinstance(cnn, CNN) and cnn.conv1.out_channels == 16 and cnn.fc.in_features == 16 * 25
    assert cnn(torch.zeros(2, 28, 28)).shape == (2, 10)
    assert make_cnn().spec == {"arch": "CNN", "n_classes": 10, "dropout": 0.5}  # the paper's checkpoints keep their keys
    fcn = build_model(ModelSpec("fcn", (20, 10), 0))
    assert n_params(fcn) == 784 * 20 + 20 + 20 * 10 + 10 + 10 * 10 + 10
    assert torch.equal(build_model(ModelSpec("fcn", (20,), 0, seed=3)).layers.fc0.weight,
                       build_model(ModelSpec("fcn", (20,), 0, seed=3)).layers.fc0.weight)
    for bad in (dict(kind="rnn", widths=(4,), epochs=1), dict(kind="cnn", widths=(4,), epochs=1),
                dict(kind="fcn", widths=(4,), epochs=-1)):
        with pytest.raises(ValueError):
            ModelSpec(**bad)


def test_training_a_spec_is_cached_and_untrained_specs_stay_at_init(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XCORR_RESULTS_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    X, y = rng.random((200, 28, 28), dtype=np.float32), rng.integers(0, 10, 200)
    spec = ModelSpec("fcn", (16,), 1)
    first = train_spec(spec, X, y, key={"dataset": "random"})
    again = train_spec(spec, X, y, key={"dataset": "random"})
    assert first.checkpoint_path_ == again.checkpoint_path_
    assert torch.equal(first.layers.fc0.weight, again.layers.fc0.weight)
    untrained = ModelSpec("fcn", (16,), 0)
    assert torch.equal(train_spec(untrained, X, y, key={}).layers.fc0.weight, build_model(untrained).layers.fc0.weight)


def test_activations_are_stored_once_per_model_and_probe_set(tmp_path) -> None:
    model = build_model(ModelSpec("fcn", (12, 6), 0)).eval()
    probe = np.random.default_rng(0).random((30, 28, 28), dtype=np.float32)
    path, layers = stored_acts(model, probe, stem="m", folder=tmp_path)
    acts = np.load(path, mmap_mode="r")
    assert acts.shape == (30, 18) and list(layers) == [0] * 12 + [1] * 6
    mtime = path.stat().st_mtime_ns
    assert stored_acts(model, probe, stem="m", folder=tmp_path)[0] == path and path.stat().st_mtime_ns == mtime
    other, _ = stored_acts(model, probe[:20], stem="m", folder=tmp_path)
    assert other != path and np.load(other).shape == (20, 18)
    assert not list(tmp_path.glob(".*tmp*"))


def fake_population(seed: int = 0, n_families: int = 8, per_family: int = 4):
    """Models with families; a score matrix whose alignment with the reference is known."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_families):
        for k in range(per_family):
            rows.append({"model": f"f{f}m{k}", "family": f"F{f}", "kind": "cnn" if f == 0 else "fcn",
                         "n_units": int(rng.integers(20, 2000)), "n_layers": int(rng.integers(1, 6)),
                         "n_params": int(rng.integers(1000, 10**6)), "trained": k < per_family - 1})
    models = pd.DataFrame(rows)
    quality = rng.random(len(models))
    models["acc_clean"] = np.where(models["trained"], 0.5 + 0.4 * quality, 0.1)
    models["acc_attacked"] = models["acc_clean"] - 0.1 * rng.random(len(models))
    models["degradation"] = 1 - models["acc_attacked"] / models["acc_clean"]
    return models, quality


def matrix_from(values: np.ndarray, names) -> pd.DataFrame:
    values = np.add.outer(values, values) / 2
    np.fill_diagonal(values, 1.0)
    return pd.DataFrame(values, index=list(names), columns=list(names))


def test_references_and_alignment() -> None:
    models, quality = fake_population()
    refs = pop.references(models)
    trained = models[models["trained"]]
    assert refs["most_accurate"] == trained.loc[trained["acc_clean"].idxmax(), "model"]
    cnns = trained[trained["kind"] == "cnn"]
    assert refs["best_cnn"] == cnns.loc[cnns["acc_clean"].idxmax(), "model"]
    family = models.set_index("model").loc[refs["best_cnn"], "family"]
    twins = models[(models["family"] == family) & ~models["trained"]]["model"].tolist()
    assert refs.get("best_cnn_untrained") == (twins[0] if twins else None)
    mat = matrix_from(quality, models["model"])
    align = pop.alignment(mat, refs["best_cnn"])
    assert refs["best_cnn"] not in align.index and len(align) == len(models) - 1
    mean = pop.alignment(mat, "mean")
    manual = (mat.values.sum(1) - 1.0) / (len(models) - 1)
    np.testing.assert_allclose(mean.to_numpy(), manual)


def test_prediction_finds_a_real_link_and_not_a_size_artefact() -> None:
    models, quality = fake_population()
    linked = matrix_from(quality, models["model"])  # accuracy is a monotone function of quality
    jitter = np.random.default_rng(2).normal(scale=0.05, size=len(models))
    size_only = matrix_from(np.log(models["n_units"].to_numpy(float)) + jitter, models["model"])
    noise = np.random.default_rng(3).normal(scale=0.01, size=len(models))
    models_size = models.assign(acc_clean=np.where(models["trained"], 0.3 + 0.05 * np.log(models["n_units"]) + noise, 0.1))
    table = pop.prediction_table(models, {"linked": linked}, n_boot=200)
    row = table.set_index(["group", "measure", "reference", "target", "statistic"]).loc[
        ("trained", "linked", "mean", "acc_clean")]
    assert row.loc["spearman", "value"] > 0.95 and row.loc["spearman", "ci_low"] > 0.8
    assert row.loc["spearman", "n_clusters"] == 8 and row.loc["spearman", "p_value"] < 0.05
    assert np.isnan(row.loc["partial_spearman", "p_value"])
    size = pop.prediction_table(models_size, {"size": size_only}, n_boot=200).set_index(
        ["group", "reference", "target", "statistic"]).loc[("trained", "mean", "acc_clean")]
    assert size.loc["spearman", "value"] > 0.9 and abs(size.loc["partial_spearman", "value"]) < 0.3
    assert set(table["group"]) == {"trained", "untrained"}
    assert set(table["reference"]) == {"best_cnn", "best_cnn_untrained", "most_accurate", "mean"}


def test_measure_differences_and_memory_claim() -> None:
    models, quality = fake_population()
    good = matrix_from(quality, models["model"])
    noisy = matrix_from(quality + np.random.default_rng(1).normal(scale=2.0, size=len(quality)), models["model"])
    diff = pop.measure_differences(models, {"good": good, "same": good.copy(), "noisy": noisy}, reference="mean",
                                   target="acc_clean", n_boot=200)
    same = diff[(diff.measure_a == "good") & (diff.measure_b == "same")].iloc[0]
    assert same.difference == 0 and same.ci_low == 0 and same.ci_high == 0
    vs_noisy = diff[(diff.measure_a == "good") & (diff.measure_b == "noisy")].iloc[0]
    assert vs_noisy.difference > 0 and vs_noisy.ci_low > 0
    align = pop.alignment(good, "mean")
    claim = pop.memory_claim(models, align, tolerance=0.05)
    top = models.set_index("model").loc[align.index].assign(a=align)
    top = top[top["trained"] & (top["a"] >= top.loc[top["trained"], "a"].quantile(0.75))]
    close = top[top["acc_clean"] >= top["acc_clean"].max() - 0.05]
    assert claim["smallest_close"] == close["n_params"].idxmin() and claim["n_aligned"] == len(top)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 25), st.integers(1, 4))
def test_vectorized_statistics_equal_the_one_at_a_time_functions(seed: int, n: int, k: int) -> None:
    from xcorr_lib.common.stats import partial_rank_correlation, rank_correlation
    from xcorr_lib.studies.population.stats import _statistics

    rng = np.random.default_rng(seed)
    xs, y, z = rng.integers(0, 4, (k, n)).astype(float), rng.integers(0, 5, n).astype(float), rng.normal(size=(n, 2))
    got = _statistics(xs, y, z)
    for x, row in zip(xs, got):
        want = [rank_correlation(x, y), rank_correlation(x, y, "kendall"), partial_rank_correlation(x, y, z)]
        np.testing.assert_allclose(row, want, atol=1e-10, equal_nan=True)


def test_each_verdict_names_its_own_group_and_statistic() -> None:
    """The trained group's interval excludes zero, the untrained group's includes it: each sentence
    says so of its own group and never lends one group's verdict to the other's number."""
    def row(group, target, stat, value, lo, hi, n):
        return {"group": group, "measure": "score_paper", "reference": "best_cnn", "reference_model": "cnn-a",
                "target": target, "statistic": stat, "value": value, "ci_low": lo, "ci_high": hi,
                "p_value": 0.01, "n_models": n, "n_clusters": 5}
    rows = []
    for target in pop.TARGETS:
        rows += [row("trained", target, "spearman", 0.5, 0.2, 0.7, 60), row("trained", target, "partial_spearman", 0.3, 0.1, 0.5, 60),
                 row("untrained", target, "spearman", 0.09, -0.4, 0.6, 6)]
    text = pop.describe_prediction(pd.DataFrame(rows))
    for line in text.splitlines()[1:]:
        trained, untrained = line.split(" Among the 6 untrained networks ")
        assert "among the 60 trained networks" in trained and "+0.50" in trained
        assert "its interval excludes zero" in trained and "includes zero" not in trained
        assert untrained.startswith("rho +0.09") and "its interval includes zero" in untrained
        assert "excludes" not in untrained


def test_alignment_above_its_own_null_is_the_score_minus_the_shuffled_null(tmp_path) -> None:
    from xcorr_lib.score.correlation import neuron_correlation

    rng = np.random.default_rng(4)
    latent = rng.normal(size=(60, 3))
    sources = {f"m{i}": ((latent @ rng.normal(size=(3, 8)) * (i + 1) / 4 + rng.normal(size=(60, 8))).astype(np.float32),
                         np.repeat([0, 1], 4)) for i in range(6)}
    np.save(tmp_path / "m0.npy", sources["m0"][0])
    sources["m0"] = (tmp_path / "m0.npy", sources["m0"][1])  # stored activations are read memory-mapped
    setting = {"measure": "score", "variant": "paper", "direction": "both"}
    out = pop.above_null(sources, "m5", setting, n_null=25, seed=2)
    assert out.drop(columns="m5").isna().all().all() and np.isnan(out.loc["m5", "m5"])
    res = neuron_correlation(*sources["m1"], *sources["m5"], null="shuffle", n_null=25, seed=2)
    assert out.loc["m1", "m5"] == pytest.approx(res.score - res.nulls["shuffle"].mean, abs=1e-12)
    assert (out["m5"].drop("m5") > 0).all()  # related to the reference: above its own null
    models = pd.DataFrame({"model": list(sources), "family": list("ABCDEF"), "kind": ["fcn"] * 5 + ["cnn"],
                           "trained": True, "n_units": 8, "n_layers": 2, "acc_clean": [0.5, 0.6, 0.7, 0.8, 0.85, 0.9],
                           "acc_attacked": 0.4, "degradation": 0.2})
    table = pop.prediction_table(models, {"score_paper_above_null": out}, only=["best_cnn"], groups=["trained"], n_boot=50)
    assert set(table.reference) == {"best_cnn"} and table.value.notna().any()
