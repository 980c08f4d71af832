"""Tests for xcorr_lib.nets.attack: FGSM step, substitute attack, evaluation.

All models here are tiny (a linear layer on 4x4 "images") and trained by a two-line
full-batch loop, so the file runs in seconds. Oracles: the input gradient of a linear
model is written out by hand in numpy (single and double softmax).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xcorr_lib.nets.attack import AttackResult, attack_loss, fgsm_step, substitute_attack
from xcorr_lib.nets.evaluate import evaluate_attack, relative_degradation

N_CLASSES = 3
SHAPE = (4, 4)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, N_CLASSES))


def tiny_data(n: int = 40, seed: int = 0, grid: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if grid:  # pixels on a dyadic grid k/grid: float arithmetic with eps=1/grid is exact
        X = rng.integers(0, grid + 1, size=(n, *SHAPE)).astype(np.float32) / grid
    else:
        X = rng.random((n, *SHAPE), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, size=n)
    return X, y


@dataclasses.dataclass(frozen=True)
class TinyRecipe:
    epochs: int = 3
    lr: float = 0.1


class Counter:
    """A factory and a training function that record how they were called."""

    def __init__(self) -> None:
        self.built: list[nn.Module] = []
        self.trained: list[tuple[int, np.ndarray, int]] = []

    def factory(self) -> nn.Module:
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, N_CLASSES))
        self.built.append(model)
        return model

    def train(self, model, X, y, recipe, *, seed, progress):
        self.trained.append((id(model), np.array(X, copy=True), seed))
        torch.manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        model.train()
        for _ in range(recipe.epochs):
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xt), yt).backward()
            opt.step()
        return None


def manual_grad(model: nn.Module, X: np.ndarray, y: np.ndarray, double: bool) -> np.ndarray:
    """d loss / d x for a linear model, by hand: W^T dL/dz (up to the 1/B of the mean)."""
    W = model[1].weight.detach().double().numpy()
    b = model[1].bias.detach().double().numpy()
    x = X.reshape(len(X), -1).astype(np.float64)
    z = x @ W.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(N_CLASSES)[y]
    if double:  # CE(softmax(p)): dL/dp = q - e_y, then back through softmax(z)
        q = np.exp(p - p.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        g = q - onehot
        dz = p * (g - (p * g).sum(1, keepdims=True))
    else:
        dz = p - onehot
    return (dz @ W).reshape(X.shape)


# --------------------------------------------------------------------------- FGSM
@pytest.mark.parametrize("loss", ["original", "logits"])
def test_fgsm_moves_every_pixel_by_eps_or_clips(loss):
    X, y = tiny_data(grid=8)
    eps = 1 / 8
    model = tiny_model()
    X_new = fgsm_step(model, X, y, eps, loss=loss)
    sign = np.sign(manual_grad(model, X, y, double=(loss == "original")))
    assert np.all(sign != 0)  # a generic linear model: no zero gradients
    np.testing.assert_array_equal(X_new, np.clip(X + eps * sign, 0, 1))
    moved = np.abs(X_new - X)
    clipped = ((X == 0) & (sign < 0)) | ((X == 1) & (sign > 0))
    assert np.all(moved[~clipped] == eps)
    assert np.all(moved[clipped] == 0)
    assert clipped.any() and (~clipped).any()


def test_zero_gradient_pixels_stay():
    """sign(0) = 0: pixels the model ignores have zero gradient and do not move."""
    model = tiny_model()
    with torch.no_grad():
        model[1].weight[:, :8] = 0.0  # the first two rows of every 4x4 image are ignored
    X, y = tiny_data()
    X_new = fgsm_step(model, X, y, 0.1)
    np.testing.assert_array_equal(X_new[:, :2], X[:, :2])
    assert np.all(np.abs(X_new[:, 2:] - X[:, 2:]) > 0)


def test_original_loss_is_double_softmax_and_differs_from_logits():
    X, y = tiny_data(n=200, grid=16)
    model = tiny_model(3)
    for loss, double in (("original", True), ("logits", False)):
        expected = np.clip(X + (1 / 16) * np.sign(manual_grad(model, X, y, double)), 0, 1)
        np.testing.assert_array_equal(fgsm_step(model, X, y, 1 / 16, loss=loss), expected)
    a = fgsm_step(model, X, y, 1 / 16, loss="original")
    b = fgsm_step(model, X, y, 1 / 16, loss="logits")
    assert not np.array_equal(a, b)
    logits = torch.randn(5, N_CLASSES)
    t = torch.tensor([0, 1, 2, 0, 1])
    manual = -torch.log_softmax(torch.softmax(logits, -1), -1)[torch.arange(5), t].mean()
    torch.testing.assert_close(attack_loss(logits, t, "original"), manual)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 0.6), batch=st.integers(1, 50))
def test_fgsm_stays_in_unit_box_and_ignores_batch_size(seed, eps, batch):
    X, y = tiny_data(n=30, seed=seed)
    model = tiny_model(seed)
    X_new = fgsm_step(model, X, y, eps, batch_size=batch)
    assert X_new.dtype == np.float32 and X_new.shape == X.shape
    assert X_new.min() >= 0.0 and X_new.max() <= 1.0
    assert np.abs(X_new - X).max() <= eps + 1e-6
    np.testing.assert_array_equal(X_new, fgsm_step(model, X, y, eps, batch_size=500))


def test_fgsm_leaves_model_untouched():
    model = tiny_model()
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    X, y = tiny_data()
    fgsm_step(model, torch.as_tensor(X), torch.as_tensor(y), 0.1)
    assert model.training
    for p, q in zip(before, model.parameters()):
        assert torch.equal(p, q) and q.grad is None


# --------------------------------------------------------------------------- attack
def run(counter: Counter, X, y, **kw) -> AttackResult:
    kw.setdefault("cache", False)
    return substitute_attack(X, y, make_substitute=counter.factory, train_fn=counter.train,
                             recipe=TinyRecipe(), eps=0.1, progress=False, **kw)


def test_substitute_is_rebuilt_and_retrained_each_round():
    X, y = tiny_data()
    c = Counter()
    res = run(c, X, y, rounds=4)
    assert len(c.built) == 4 and len(c.trained) == 4
    assert len({model_id for model_id, _, _ in c.trained}) == 4
    assert len({seed for _, _, seed in c.trained}) == 4
    np.testing.assert_array_equal(c.trained[0][1], X)  # round 1 trains on the clean images
    for r in range(1, 4):  # round r+1 trains on round r's output
        assert np.abs(c.trained[r][1] - X).max() == pytest.approx(min(1, 0.1 * r), abs=1e-6)
    assert list(res.per_round["round"]) == [1, 2, 3, 4]
    assert (np.diff(res.per_round["linf_max"]) >= -1e-7).all()
    assert (res.per_round["linf_max"] <= 0.1 * res.per_round["round"] + 1e-6).all()


def test_continue_keeps_training_one_substitute():
    X, y = tiny_data()
    c = Counter()
    run(c, X, y, rounds=3, substitute_init="continue")
    assert len(c.built) == 1 and len({m for m, _, _ in c.trained}) == 1 and len(c.trained) == 3


def test_original_starts_from_the_evaluated_cnns_initial_weights_and_continues():
    X, y = tiny_data()
    start = tiny_model(seed=42)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    c = Counter()
    run(c, X, y, rounds=3, substitute_init="original", substitute_start=start)
    assert len(c.built) == 0 and len({m for m, _, _ in c.trained}) == 1 and len(c.trained) == 3
    assert all(torch.equal(before[k], v) for k, v in start.state_dict().items())  # a copy was trained
    with pytest.raises(ValueError, match="substitute_start is needed"):
        run(Counter(), X, y, rounds=1, substitute_init="original")
    with pytest.raises(ValueError, match="substitute_start is needed"):
        run(Counter(), X, y, rounds=1, substitute_start=start)


def test_attacked_images_in_unit_box_and_perturbation_recorded():
    X, y = tiny_data(n=60)
    res = run(Counter(), X, y, rounds=5)
    assert res.X_adv.shape == X.shape and res.X_adv.dtype == np.float32
    assert res.X_adv.min() >= 0 and res.X_adv.max() <= 1
    diff = (res.X_adv - X).reshape(len(X), -1)
    np.testing.assert_allclose(res.linf, np.abs(diff).max(1), rtol=1e-6)
    np.testing.assert_allclose(res.l2, np.linalg.norm(diff, axis=1), rtol=1e-5)
    np.testing.assert_allclose(res.linf_255, res.linf * 255)
    assert res.linf.max() <= 0.5 + 1e-6
    s = res.summary()
    assert s["linf_bound_255"] == pytest.approx(127.5) and s["linf_max"] == pytest.approx(res.linf.max())


def test_deterministic_given_seed():
    X, y = tiny_data()
    a = run(Counter(), X, y, rounds=3, seed=7)
    b = run(Counter(), X, y, rounds=3, seed=7)
    c = run(Counter(), X, y, rounds=3, seed=8)
    np.testing.assert_array_equal(a.X_adv, b.X_adv)
    assert not np.array_equal(a.X_adv, c.X_adv)


def test_cache_hit_returns_identical_arrays_without_retraining(tmp_path, capsys):
    X, y = tiny_data()
    first = Counter()
    a = run(first, X, y, rounds=2, cache=None)
    assert not a.from_cache and a.cache_path is not None and a.cache_path.is_file()
    assert "attacks" in str(a.cache_path)
    again = Counter()
    b = run(again, X, y, rounds=2, cache=None)
    assert b.from_cache and again.trained == []
    assert "Reusing cached attack" in capsys.readouterr().out
    np.testing.assert_array_equal(a.X_adv, b.X_adv)
    np.testing.assert_array_equal(a.linf, b.linf)
    np.testing.assert_array_equal(a.l2, b.l2)
    assert a.params == b.params
    assert np.allclose(a.per_round.to_numpy(float), b.per_round.to_numpy(float))
    other = Counter()  # another setting or other data: another key, recomputed
    run(other, X, y, rounds=2, cache=tmp_path, loss="logits")
    run(other, X[::-1].copy(), y[::-1].copy(), rounds=2, cache=tmp_path)
    assert len(other.trained) == 4 and len(list(tmp_path.glob("*.npz"))) == 2
    a.cache_path.write_bytes(b"not an npz")  # a damaged cache file: warn and recompute
    damaged = Counter()
    with pytest.warns(UserWarning, match="could not read"):
        c = run(damaged, X, y, rounds=2, cache=None)
    assert len(damaged.trained) == 2 and not c.from_cache
    np.testing.assert_array_equal(c.X_adv, a.X_adv)


# --------------------------------------------------------------------------- evaluation
def test_relative_degradation_formula():
    assert round(100 * relative_degradation(0.962, 0.737), 1) == 23.4  # paper, MNIST Net1
    assert relative_degradation(0.5, 0.5) == 0.0
    with pytest.warns(UserWarning):
        assert np.isnan(relative_degradation(0.0, 0.0))


def test_evaluate_attack_matches_brute_force():
    X, y = tiny_data(n=50)
    models = {"a": tiny_model(1), "b": tiny_model(2)}
    res = run(Counter(), X, y, rounds=2)
    table = evaluate_attack(models, X, res.X_adv, y)
    assert list(table.columns) == ["net", "acc_clean", "acc_attacked", "rel_degradation"]
    for _, row in table.iterrows():
        m = models[row.net]
        with torch.no_grad():
            clean = (m(torch.as_tensor(X)).argmax(1).numpy() == y).mean()
            att = (m(torch.as_tensor(res.X_adv)).argmax(1).numpy() == y).mean()
        assert row.acc_clean == pytest.approx(clean) and row.acc_attacked == pytest.approx(att)
        assert row.rel_degradation == pytest.approx((clean - att) / clean)


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_raise():
    X, y = tiny_data()
    m = tiny_model()
    with pytest.raises(ValueError, match="eps"):
        fgsm_step(m, X, y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        fgsm_step(m, X, y, float("nan"))
    with pytest.raises(ValueError, match="shape"):
        fgsm_step(m, X, y[:-1], 0.1)
    with pytest.raises(ValueError, match="out of range"):
        fgsm_step(m, X, np.full_like(y, N_CLASSES), 0.1)
    with pytest.raises(ValueError, match=">= 0"):
        fgsm_step(m, X, -y - 1, 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm_step(m, X * 255, y, 0.1)
    with pytest.raises(ValueError, match="integer"):
        fgsm_step(m, X, y.astype(float), 0.1)
    with pytest.raises(ValueError, match="'logits'"):
        fgsm_step(m, X, y, 0.1, loss="softmax")
    c = Counter()
    with pytest.raises(ValueError, match="out of range"):
        run(c, X, np.full_like(y, 5), rounds=1)
    with pytest.raises(ValueError, match="rounds"):
        run(c, X, y, rounds=0)
    with pytest.raises(ValueError, match="eps"):
        substitute_attack(X, y, make_substitute=c.factory, train_fn=c.train,
                          recipe=TinyRecipe(), eps=-1, cache=False)
    with pytest.raises(ValueError, match="substitute_init"):
        run(c, X, y, rounds=1, substitute_init="warm")
    assert c.trained == []
    with pytest.raises(ValueError, match="same shape"):
        evaluate_attack({"m": m}, X, X[:10], y)
    with pytest.raises(ValueError, match="out of range"):
        evaluate_attack({"m": m}, X, X, np.full_like(y, 3))


def test_real_cnn_one_step(shared_data):
    """One FGSM step on the paper's CNN and real images: every pixel moves by eps or clips."""
    models = pytest.importorskip("xcorr_lib.nets.models")
    data = pytest.importorskip("xcorr_lib.data")
    X, y = data.load_dataset("fashion-mnist", "test", root=shared_data)
    X, y = X[:64], y[:64]
    torch.manual_seed(0)
    cnn = models.make_cnn()
    eps = 10 / 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X_new = fgsm_step(cnn, X, y, eps)
    moved = np.abs(X_new - X)
    at_edge = ((X_new == 0) | (X_new == 1))
    assert np.all(np.isclose(moved, eps, atol=1e-6) | (at_edge & (moved <= eps + 1e-6)) | (moved == 0))
    assert np.isclose(moved, eps, atol=1e-6).mean() > 0.3
