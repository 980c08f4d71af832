"""Tests of xcorr_lib.common.plotting: values drawn equal the values given, bad input is refused."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from xcorr_lib.common import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def breakdown_frame() -> pd.DataFrame:
    # side a->b: layer 0 has 3 units matched in layer 0 and 1 in layer 1; layer 1 has 2
    # units in layer 1; one constant unit of layer 1 (no match). side b->a: one row.
    return pd.DataFrame({
        "side": ["a->b", "a->b", "a->b", "a->b", "b->a"],
        "layer_u": [0, 0, 1, 1, 0],
        "layer_match": pd.array([0, 1, 1, pd.NA, 0], dtype="Int64"),
        "n_units": [3, 1, 2, 1, 5],
        "mean_score": [0.9, 0.3, 0.6, 0.0, 0.7],
        "mean_abs_rho": [0.9, 0.6, 0.6, 0.0, 0.7],
    })


def test_breakdown_matrix_fraction_and_counts() -> None:
    frac = plotting.breakdown_matrix(breakdown_frame(), value="fraction")
    assert frac.index.tolist() == [0, 1] and frac.columns.tolist() == [0, 1]
    np.testing.assert_allclose(frac.to_numpy(), [[0.75, 0.25], [np.nan, 1.0]])
    counts = plotting.breakdown_matrix(breakdown_frame(), value="n_units")
    np.testing.assert_allclose(counts.to_numpy(), [[3, 1], [np.nan, 2]])
    score = plotting.breakdown_matrix(breakdown_frame(), value="mean_score")
    np.testing.assert_allclose(score.to_numpy(), [[0.9, 0.3], [np.nan, 0.6]])
    other = plotting.breakdown_matrix(breakdown_frame(), side="b->a", value="n_units")
    assert other.to_numpy().tolist() == [[5.0]]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 50)),
                min_size=1, max_size=12))
def test_breakdown_fraction_rows_sum_to_one(rows: list[tuple[int, int, int]]) -> None:
    df = pd.DataFrame(rows, columns=["layer_u", "layer_match", "n_units"])
    df = df.groupby(["layer_u", "layer_match"], as_index=False)["n_units"].sum()
    df.insert(0, "side", "a->b")
    df["mean_score"] = 0.5
    frac = plotting.breakdown_matrix(df)
    np.testing.assert_allclose(frac.sum(axis=1).to_numpy(), 1.0)
    # brute force: every cell is its count over the row total
    for u, v, n in df[["layer_u", "layer_match", "n_units"]].itertuples(index=False):
        total = df.loc[df.layer_u == u, "n_units"].sum()
        assert frac.loc[u, v] == pytest.approx(n / total)


def test_breakdown_bad_input() -> None:
    with pytest.raises(ValueError, match="value must be one of"):
        plotting.breakdown_matrix(breakdown_frame(), value="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sides present"):
        plotting.breakdown_matrix(breakdown_frame(), side="a")
    with pytest.raises(ValueError, match="lacks columns"):
        plotting.breakdown_matrix(breakdown_frame().drop(columns="n_units"))


def annotations(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_score_heatmap_annotates_every_value() -> None:
    arr = np.array([[1.0, 0.51234], [0.5, 1.0]])
    ax = plotting.score_heatmap(arr, ["net A", "net B"], title="t", fmt=".3f")
    assert annotations(ax) == ["1.000", "0.512", "0.500", "1.000"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["net A", "net B"]
    assert ax.get_title() == "t"
    frame = pd.DataFrame([[np.nan, 0.25]], index=["x"], columns=["y", "z"])
    fig, ax2 = plt.subplots()
    assert plotting.score_heatmap(frame, ax=ax2) is ax2
    assert annotations(ax2) == ["0.250"]  # NaN cells stay blank


def test_score_heatmap_bad_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        plotting.score_heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="square"):
        plotting.score_heatmap(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="square"):
        plotting.score_heatmap(np.zeros((2, 2)), ["only one"])


def test_breakdown_heatmap_draws_the_matrix() -> None:
    ax = plotting.breakdown_heatmap(breakdown_frame(), value="n_units", title="b")
    assert annotations(ax) == ["3", "1", "2"]
    ax = plotting.breakdown_heatmap(breakdown_frame())
    assert annotations(ax) == ["0.75", "0.25", "1.00"]
