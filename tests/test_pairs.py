"""score.pairs: one helper for every table of pairs; each network prepared once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xcorr_lib import pair_table
from xcorr_lib.measures import MEASURES
from xcorr_lib.score import correlation
from xcorr_lib.score.correlation import neuron_correlation
from xcorr_lib.score.pairs import all_pairs, as_matrix


def fake_acts(seed: int = 0, m: int = 40) -> dict:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(m, 3))
    out = {}
    for name, widths in {"A": [6, 4], "B": [5], "C": [3, 3, 3], "D": [8]}.items():
        n = sum(widths)
        acts = latent @ rng.normal(size=(3, n)) + rng.normal(size=(m, n))
        acts[:, 0] = 0.0  # a dead unit in every network
        out[name] = (acts.astype(np.float32), np.repeat(np.arange(len(widths)), widths))
    return out


def test_all_pairs_is_the_upper_triangle_in_order() -> None:
    assert all_pairs(["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert all_pairs(["a"]) == []


@pytest.mark.parametrize("variant", ["paper", "original"])
@pytest.mark.parametrize("direction", ["both", "forward"])
def test_score_rows_equal_neuron_correlation_per_pair(variant, direction) -> None:
    acts = fake_acts()
    table = pair_table(acts, variant=variant, direction=direction, constant="exclude")
    assert list(zip(table.model_a, table.model_b)) == all_pairs(list(acts))
    for r in table.itertuples():
        want = neuron_correlation(*acts[r.model_a], *acts[r.model_b], variant=variant, direction=direction,
                                  constant="exclude")
        assert r.value == want.score  # bit for bit
        assert (r.n_constant_a, r.n_constant_b) == (want.n_constant_a, want.n_constant_b) == (1, 1)
        assert (r.variant, r.direction, r.constant, r.measure) == (variant, direction, "exclude", "score")


def test_each_network_is_prepared_once(monkeypatch) -> None:
    calls = []
    real = correlation.prepare
    monkeypatch.setattr("xcorr_lib.score.pairs.prepare", lambda *a, **k: calls.append(k["name"]) or real(*a, **k))
    pair_table(fake_acts())  # 6 pairs of 4 networks
    assert sorted(calls) == ["acts['A']", "acts['B']", "acts['C']", "acts['D']"]


def test_a_measure_callable_and_its_matrix() -> None:
    acts = fake_acts(1)
    pairs = [("A", "B"), ("C", "A")]
    table = pair_table(acts, pairs, measure=MEASURES["linear_cka"])
    assert list(table.columns) == ["model_a", "model_b", "measure", "value"]
    assert table.measure.tolist() == ["linear_cka", "linear_cka"]
    assert table.value.tolist() == [MEASURES["linear_cka"](acts[a][0], acts[b][0]) for a, b in pairs]
    mat = as_matrix(table, diagonal=1.0)
    assert list(mat.index) == ["A", "C", "B"] and mat.loc["B", "A"] == mat.loc["A", "B"]
    assert mat.loc["A", "A"] == 1.0 and np.isnan(mat.loc["B", "C"])
    named = pair_table(acts, pairs, measure=lambda x, y: 0.5, name="half")
    assert named.measure.tolist() == ["half", "half"]


def test_errors_name_what_is_wrong() -> None:
    acts = fake_acts()
    with pytest.raises(ValueError, match=r"pairs name \['Z'\] but acts has no such network"):
        pair_table(acts, [("A", "Z")])
    with pytest.raises(ValueError, match="only apply to measure='score'"):
        pair_table(acts, measure=MEASURES["rsa"], variant="paper")
    with pytest.raises(ValueError, match="measure must be 'score' or a callable"):
        pair_table(acts, measure="linear_cka")
    with pytest.raises(ValueError, match="unknown variant"):
        pair_table(acts, variant="nope")
    empty = pair_table(acts, [])
    assert isinstance(empty, pd.DataFrame) and len(empty) == 0 and "value" in empty.columns
