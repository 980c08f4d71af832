"""Tests for xcorr_lib.nets.training: recipe, determinism, split, checkpoints, probes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xcorr_lib.common import provenance
from xcorr_lib.nets.models import make_model
from xcorr_lib.data.probes import make_probe
from xcorr_lib.nets.evaluate import evaluate, predict
from xcorr_lib.nets.training import (CNN_RECIPE, FCN_RECIPE, Recipe, load_or_train, net_seed, train,
                                     train_paper_nets, validation_split)

FAST = Recipe(optimizer="sgd", lr=0.1, epochs=2, batch_size=32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def toy_data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable images: class k brightens horizontal band k (plus noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    X = rng.random((n, 28, 28), dtype=np.float32) * 0.3
    for i, k in enumerate(y):
        X[i, 2 * k + 4: 2 * k + 6, :] += 0.7
    return np.clip(X, 0, 1).astype(np.float32), y.astype(np.int64)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_paper_recipes() -> None:
    assert (FCN_RECIPE.optimizer, FCN_RECIPE.lr, FCN_RECIPE.epochs, FCN_RECIPE.batch_size,
            FCN_RECIPE.val_fraction, FCN_RECIPE.shuffle) == ("sgd", 0.1, 20, 128, 0.2, False)
    assert (CNN_RECIPE.optimizer, CNN_RECIPE.lr, CNN_RECIPE.epochs, CNN_RECIPE.batch_size,
            CNN_RECIPE.val_fraction) == ("adam", 0.002, 10, 128, 0.2)
    assert FCN_RECIPE.with_epochs(3).epochs == 3 and FCN_RECIPE.with_epochs(None) is FCN_RECIPE


@pytest.mark.parametrize("kwargs", [dict(optimizer="rmsprop"), dict(lr=0), dict(epochs=0),
                                    dict(batch_size=0), dict(val_fraction=1.0)])
def test_recipe_validation(kwargs: dict) -> None:
    base = dict(optimizer="sgd", lr=0.1, epochs=1)
    with pytest.raises(ValueError):
        Recipe(**{**base, **kwargs})


@pytest.mark.parametrize("name, recipe", [("Net2", FAST), ("CNN", Recipe("adam", 0.002, 1, 64))])
def test_training_is_deterministic(name: str, recipe: Recipe) -> None:
    X, y = toy_data(300)
    models = []
    for init_seed, train_seed in [(1, 0), (1, 0), (1, 7)]:
        m = make_model(name, seed=init_seed)
        train(m, X, y, recipe, seed=train_seed, progress=False)
        models.append(m)
    assert same_weights(models[0], models[1])
    assert not same_weights(models[0], models[2])  # other seed -> other dropout masks


def test_shuffle_changes_weights_and_is_seeded() -> None:
    X, y = toy_data(300)
    shuffled = Recipe("sgd", 0.1, 2, 32, shuffle=True)
    a, b, c = (make_model("Net1", seed=1) for _ in range(3))
    train(a, X, y, shuffled, seed=0, progress=False)
    train(b, X, y, shuffled, seed=0, progress=False)
    train(c, X, y, FAST, seed=0, progress=False)
    assert same_weights(a, b) and not same_weights(a, c)


def test_training_learns_and_history() -> None:
    X, y = toy_data(600)
    m = make_model("Net1", seed=0)
    hist = train(m, X, y, Recipe("sgd", 0.1, 5, 32), seed=0, progress=False)
    assert list(hist.columns) == ["epoch", "train_loss", "valid_loss", "valid_acc"]
    assert hist["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    assert hist["valid_acc"].iloc[-1] > 0.8
    assert evaluate(m, X, y) > 0.8
    pred = predict(m, X[:10])
    assert pred.dtype == np.int64 and pred.shape == (10,)
    # predict must not change the mode, evaluate equals the brute-force accuracy
    m.train()
    acc = evaluate(m, X, y, batch_size=7)
    assert m.training
    m.eval()
    with torch.no_grad():
        brute = float((m(torch.from_numpy(X)).argmax(1).numpy() == y).mean())
    assert acc == brute


def test_no_validation_gives_nan_columns() -> None:
    X, y = toy_data(100)
    hist = train(make_model("Net1", seed=0), X, y, Recipe("sgd", 0.1, 1, 32, val_fraction=0.0),
                 seed=0, progress=False)
    assert hist["valid_acc"].isna().all()


def test_bad_training_inputs() -> None:
    X, y = toy_data(50)
    m = make_model("Net1", seed=0)
    with pytest.raises(ValueError, match="shape"):
        train(m, X, y[:-1], FAST, seed=0, progress=False)
    with pytest.raises(ValueError, match="integer"):
        train(m, X, y.astype(np.float32), FAST, seed=0, progress=False)
    with pytest.raises(ValueError, match="floating"):
        train(m, (X * 255).astype(np.uint8), y, FAST, seed=0, progress=False)


def test_validation_split_is_skorch_first_stratified_fold() -> None:
    y = np.repeat(np.arange(10), 50)  # sorted by class
    tr, va = validation_split(y, 0.2)
    assert len(va) == 100 and len(tr) == 400
    assert np.bincount(y[va]).tolist() == [10] * 10
    # unshuffled StratifiedKFold: the first 20% of every class, in data order
    expected = np.concatenate([np.arange(50 * k, 50 * k + 10) for k in range(10)])
    assert np.array_equal(va, expected)


@settings(max_examples=20, deadline=None)
@given(n_per=st.integers(5, 30), frac=st.sampled_from([0.2, 0.25, 0.3, 0.5]), seed=st.integers(0, 99))
def test_validation_split_partitions(n_per: int, frac: float, seed: int) -> None:
    y = np.tile(np.arange(4), n_per)
    tr, va = validation_split(y, frac, seed)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(len(y)))
    counts = np.bincount(y[va], minlength=4)
    assert counts.max() - counts.min() <= 1  # stratified


def test_checkpoint_round_trip_and_keys() -> None:
    X, y = toy_data(200)
    key = {"dataset": "toy", "protocol": "test", "n_train": 200}
    m1 = load_or_train("Net3", X, y, FAST, seed=3, key=key, progress=False)
    path = m1.checkpoint_path_
    assert path.is_file() and path.parent == provenance.checkpoints_dir()
    mtime = path.stat().st_mtime_ns
    m2 = load_or_train("Net3", X, y, FAST, seed=3, key=key, progress=False)
    assert m2.checkpoint_path_ == path and path.stat().st_mtime_ns == mtime  # loaded, not retrained
    assert same_weights(m1, m2)
    pd.testing.assert_frame_equal(m1.train_history_, m2.train_history_)
    # retraining from scratch gives the same bits as the cached file
    fresh = make_model("Net3", seed=3)
    train(fresh, X, y, FAST, seed=3, progress=False)
    assert same_weights(fresh, m2)
    # every ingredient of the weights changes the file
    X2 = X.copy()
    X2[0, 0, 0] += 0.5
    variants = [
        load_or_train("Net3", X, y, FAST.with_epochs(1), seed=3, key=key, progress=False),
        load_or_train("Net3", X, y, FAST, seed=4, key=key, progress=False),
        load_or_train("Net3", X2, y, FAST, seed=3, key=key, progress=False),
        load_or_train("Net3", X, y, FAST, seed=3, key={**key, "protocol": "other"}, progress=False),
        load_or_train("Net2", X, y, FAST, seed=3, key=key, progress=False),
    ]
    paths = {path, *(v.checkpoint_path_ for v in variants)}
    assert len(paths) == 1 + len(variants)
    # Net4's variant is part of the key; other nets ignore it
    a = load_or_train("Net4", X, y, FAST, seed=3, key=key, net4="paper", progress=False)
    b = load_or_train("Net4", X, y, FAST, seed=3, key=key, net4="original", progress=False)
    c = load_or_train("Net3", X, y, FAST, seed=3, key=key, net4="original", progress=False)
    assert a.checkpoint_path_ != b.checkpoint_path_ and c.checkpoint_path_ == path


def test_damaged_checkpoint_is_retrained() -> None:
    X, y = toy_data(120)
    m1 = load_or_train("Net1", X, y, FAST, seed=0, key={"dataset": "toy"}, progress=False)
    m1.checkpoint_path_.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="retraining"):
        m2 = load_or_train("Net1", X, y, FAST, seed=0, key={"dataset": "toy"}, progress=False)
    assert same_weights(m1, m2)


def test_train_paper_nets_per_net_seeds() -> None:
    X, y = toy_data(150)
    nets = train_paper_nets("toy", X, y, names=("Net1", "Net5"), fcn_recipe=FAST, seed=0, progress=False)
    assert list(nets) == ["Net1", "Net5"]
    alone = load_or_train("Net5", X, y, FAST, seed=net_seed("Net5", 0), key={"dataset": "toy"},
                          progress=False)
    assert same_weights(nets["Net5"], alone)  # each net reproducible on its own
    assert net_seed("Net1", 0) != net_seed("Net5", 0) != net_seed("Net5", 1)
    with pytest.raises(ValueError, match="valid names"):
        train_paper_nets("toy", X, y, names=("Net9",), progress=False)


def test_probes() -> None:
    X = np.random.default_rng(0).random((50, 28, 28), dtype=np.float32)
    full = make_probe("test", X)
    assert full.n == 50 and np.array_equal(full.x, X)
    first = make_probe("test", X, n=10)
    assert np.array_equal(first.x, X[:10]) and first.describe()["n_probes"] == 10
    rand = make_probe("test", X, n=10, selection="random", seed=1)
    assert np.array_equal(rand.x, make_probe("test", X, n=10, selection="random", seed=1).x)
    rows = [int(np.flatnonzero((X == r).all(axis=(1, 2)))[0]) for r in rand.x]
    assert rows == sorted(set(rows))  # distinct test images, in test-split order
    with pytest.raises(ValueError, match="kind"):
        make_probe("images", X)
    with pytest.raises(ValueError, match="between"):
        make_probe("test", X, n=51)
    with pytest.raises(ValueError, match="selection"):
        make_probe("test", X, selection="last")


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**31 - 1))
def test_noise_probe_shape_range_seed(n: int, seed: int) -> None:
    X = np.zeros((40, 28, 28), dtype=np.float32)
    p = make_probe("noise", X, n=n, seed=seed)
    assert p.x.shape == (n, 28, 28) and p.x.dtype == np.float32
    assert p.x.min() >= 0.0 and p.x.max() < 1.0
    assert np.array_equal(p.x, make_probe("noise", X, n=n, seed=seed).x)
    assert not np.array_equal(p.x, make_probe("noise", X, n=n, seed=seed + 1).x)
    # the first n rows of a full-size noise probe are the n-probe noise set
    assert np.array_equal(make_probe("noise", X, seed=seed).x[:n], p.x)


def test_thread_setting_is_scoped() -> None:
    X, y = toy_data(200)
    torch.set_num_threads(2)
    train(make_model("Net1", seed=0), X, y, FAST, seed=0, progress=False)  # default: one thread inside
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="num_threads"):
        train(make_model("Net1", seed=0), X, y, FAST, seed=0, progress=False, num_threads=0)
    assert torch.get_num_threads() == 2
