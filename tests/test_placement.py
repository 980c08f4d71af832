"""Published cells placed in our seed distribution (xcorr_lib.report.placement), against
scipy's percentileofscore and brute-force recomputation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from xcorr_lib.report.placement import offset, percentile_of, place


def _cells(n_seeds: int, n_cells: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = [{"dataset": "d", "net": f"Net{c}", "seed": s, "value": rng.normal(c, 1.0 + c / 3)}
            for s in range(n_seeds) for c in range(n_cells)]
    return pd.DataFrame(rows)


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=12), st.integers(-6, 6))
@settings(max_examples=200, deadline=None)
def test_percentile_is_scipys_mean_kind(sample: list[int], value: int) -> None:
    assert percentile_of(value, sample) == pytest.approx(stats.percentileofscore(sample, value, kind="mean"))
    assert 0 <= percentile_of(value, sample) <= 100


def test_percentile_ends_and_ties() -> None:
    assert percentile_of(0.0, [1, 2, 3]) == 0 and percentile_of(4.0, [1, 2, 3]) == 100
    assert percentile_of(2.0, [1, 2, 3]) == 50 and percentile_of(2.0, [2, 2]) == 50
    with pytest.raises(ValueError, match="non-empty"):
        percentile_of(1.0, [])
    with pytest.raises(ValueError, match="NaN"):
        percentile_of(1.0, [1.0, np.nan])


def test_place_per_cell_matches_a_recomputation() -> None:
    ours = _cells(10, 4, np.random.default_rng(1))
    published = pd.DataFrame({"dataset": "d", "net": ["Net0", "Net1", "Net3", "Net9"], "paper": [0.1, 5.0, 3.0, 1.0]})
    placed = place(ours, published, ["dataset", "net"]).set_index("net")
    assert list(placed.index) == ["Net0", "Net1", "Net3"]  # Net9 has no seeds: left out
    for net, row in placed.iterrows():
        vals = ours.loc[ours["net"] == net, "value"].to_numpy()
        pub = published.set_index("net").loc[net, "paper"]
        assert row["n_seeds"] == 10 and row["mean"] == pytest.approx(vals.mean())
        assert row["sd"] == pytest.approx(vals.std(ddof=1))
        assert row["z"] == pytest.approx((pub - vals.mean()) / vals.std(ddof=1))
        assert row["percentile"] == pytest.approx(stats.percentileofscore(vals, pub, kind="mean"))
        assert row["outside"] == (pub < vals.min() or pub > vals.max())


def test_place_rounds_ours_as_the_paper_printed() -> None:
    ours = pd.DataFrame({"net": "CNN", "seed": [0, 1, 2], "value": [89.1, 89.5, 89.86]})
    published = pd.DataFrame({"net": ["CNN"], "paper": [89.9]})
    assert place(ours, published, ["net"])["outside"].item()
    rounded = place(ours, published, ["net"], decimals=1).iloc[0]
    assert not rounded["outside"] and rounded["percentile"] == pytest.approx(100 * 2.5 / 3)


def test_place_refuses_two_rows_for_one_cell_and_seed() -> None:
    ours = pd.DataFrame({"net": ["a", "a"], "seed": [0, 0], "value": [1.0, 2.0]})
    with pytest.raises(ValueError, match="more than one row"):
        place(ours, pd.DataFrame({"net": ["a"], "paper": [1.0]}), ["net"])


def test_offset_is_zero_at_our_means_and_finds_a_shift() -> None:
    ours = _cells(10, 5, np.random.default_rng(2))
    stats_ = ours.groupby("net")["value"].agg(["mean", "std"]).reset_index()
    at_mean = stats_.assign(dataset="d", paper=stats_["mean"])
    centred = offset(ours, at_mean, ["dataset", "net"])
    assert centred["mean_z"] == pytest.approx(0, abs=1e-12) and centred["low"] < 0 < centred["high"]
    shifted = stats_.assign(dataset="d", paper=stats_["mean"] + 3 * stats_["std"])
    found = offset(ours, shifted, ["dataset", "net"])
    assert found["mean_z"] == pytest.approx(3) and found["low"] > 0
    assert found["n_cells"] == 5 and found["n_seeds"] == 10


def test_offset_interval_is_the_leave_one_seed_out_jackknife() -> None:
    ours = _cells(6, 3, np.random.default_rng(3))
    published = pd.DataFrame({"dataset": "d", "net": ["Net0", "Net1", "Net2"], "paper": [0.5, 1.5, 1.0]})

    def mean_z(frame: pd.DataFrame) -> float:
        g = frame.groupby("net")["value"]
        return float(((published.set_index("net")["paper"] - g.mean()) / g.std(ddof=1)).mean())

    loo = np.array([mean_z(ours[ours["seed"] != s]) for s in range(6)])
    se = np.sqrt(5 / 6 * ((loo - loo.mean()) ** 2).sum())
    got = offset(ours, published, ["dataset", "net"])
    assert got["mean_z"] == pytest.approx(mean_z(ours))
    assert got["se"] == pytest.approx(se)
    assert got["high"] - got["mean_z"] == pytest.approx(stats.t.ppf(0.975, 5) * se)


def test_offset_needs_three_seeds_and_a_spread() -> None:
    ours = _cells(2, 2, np.random.default_rng(4))
    published = pd.DataFrame({"dataset": "d", "net": ["Net0"], "paper": [0.0]})
    with pytest.raises(ValueError, match="at least 3 seeds"):
        offset(ours, published, ["dataset", "net"])
    flat = pd.DataFrame({"dataset": "d", "net": "Net0", "seed": [0, 1, 2], "value": 1.0})
    with pytest.raises(ValueError, match="same value in every seed"):
        offset(flat, published, ["dataset", "net"])
