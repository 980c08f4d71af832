"""Every published cell of Tables 2 and 3 beside its three nulls (studies.fcn_tables.cell_nulls)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from xcorr_lib.nets.models import FCN_NAMES, make_model
from xcorr_lib.score.correlation import neuron_correlation
from xcorr_lib.studies import fcn_tables as ex


def tiny_run(seed: int = 0) -> SimpleNamespace:
    """Untrained paper networks on random images: a run's shape without training."""
    X = np.random.default_rng(seed).random((40, 28, 28), dtype=np.float32)
    nets = {v: {n: make_model(n, seed=i, net4=v) for i, n in enumerate((*FCN_NAMES, "CNN"))} for v in ("paper", "original")}
    return SimpleNamespace(trained={"mnist": (SimpleNamespace(X_test=X), nets), "fashion-mnist": (SimpleNamespace(X_test=X), nets)})


@pytest.mark.parametrize("table,n_cells", [("fcn", 10), ("cnn", 5)])
def test_every_cell_has_its_published_value_nulls_and_interval(table: str, n_cells: int, one_torch_thread) -> None:
    run = tiny_run()
    nulls = ex.cell_nulls(run, table=table, net4="paper", n_probes=12, n_null=30, n_twins=2, n_boot=40, seed=1)
    assert list(nulls.columns) == ex.NULL_COLUMNS and len(nulls) == 2 * n_cells
    assert nulls.published.notna().all()  # every cell here was printed by the paper
    assert set(nulls.probe) == {"test", "noise"}  # the original code's probes: noise for Fashion-MNIST
    assert (nulls.ci_low <= nulls.score).all() and (nulls.score <= nulls.ci_high).all()
    for p in ("p_shuffled", "p_untrained"):
        assert ((nulls[p] > 0) & (nulls[p] <= 1)).all()
    assert (nulls.null_shuffled_sd > 0).all() and nulls.null_analytic.between(0, 1).all()
    # a cell's score is the original-code score of the authors' networks on those probes
    row = nulls[(nulls.dataset == "mnist")].iloc[0]
    nets = run.trained["mnist"][1]
    from xcorr_lib.data.probes import make_probe
    from xcorr_lib.nets.capture import capture_all

    probe = make_probe("test", run.trained["mnist"][0].X_test, 12, selection="first", seed=1)
    acts = capture_all({n: nets["paper"][n] for n in (row.net_a, row.net_b)}, probe.x)
    expected = neuron_correlation(*acts[row.net_a], *acts[row.net_b], variant="original", direction="forward").score
    assert row.score == pytest.approx(expected, abs=1e-12)
    again = ex.cell_nulls(run, table=table, net4="paper", n_probes=12, n_null=30, n_twins=2, n_boot=40, seed=1)
    pd.testing.assert_frame_equal(nulls, again)  # seeded: the same nulls and interval


def test_the_words_and_the_figure_come_from_the_table() -> None:
    nulls = ex.cell_nulls(tiny_run(), table="cnn", net4="paper", n_probes=10, n_null=20, n_twins=2, n_boot=20)
    text = ex.describe_cell_nulls(nulls)
    assert text.count("\n") == 1 and "shuffled-probe null" in text and "Published cells above all three nulls" in text
    fig = ex.plot_cell_nulls(nulls, "t")
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)
