"""dlbd_lib.train fits both engines with the same code; dlbd_lib.plot draws without errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

import dlbd_lib as dl
from dlbd_lib import functional as Fn
from dlbd_lib.data import DataLoader, TensorDataset
from dlbd_lib.nn import Module, Parameter
from dlbd_lib.optim import SGD
from dlbd_lib.plot import (
    confusion_matrix,
    decision_boundary,
    feature_maps,
    image_grid,
    loss_curves,
    plot_confusion_matrix,
)
from dlbd_lib.train import History, accuracy, evaluate, fit


class Softmax2(Module):
    """A linear classifier written with Parameters only (no nn layers needed)."""

    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.weight = Parameter(w.copy())
        self.bias = Parameter(b.copy())

    def forward(self, X):
        return X @ self.weight.T + self.bias


def nll(y_hat, y):
    logp = Fn.log_softmax(y_hat, axis=1)
    return -logp[np.arange(len(y)), y.data].mean()


def blobs(n=256, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[0, 2], [2, -1], [-2, -1]], dtype=np.float32)
    X = (centers[y] + 0.6 * rng.standard_normal((n, 2))).astype(np.float32)
    return X, y.astype(np.int64)


def test_accuracy_counts_argmax_hits_and_checks_shapes():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], dtype=np.float32)
    assert accuracy(scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor(scores), torch.tensor([1, 0, 1])) == 1.0
    with pytest.raises(ValueError, match=r"\(N, C\).*\(3, 2\).*\(2,\)"):
        accuracy(scores, np.array([1, 0]))


def test_fit_gives_the_same_history_in_both_engines():
    X, y = blobs()
    rng = np.random.default_rng(1)
    w0 = (0.1 * rng.standard_normal((3, 2))).astype(np.float32)
    b0 = np.zeros(3, np.float32)

    net = Softmax2(w0, b0)
    loader = DataLoader(TensorDataset(dl.Tensor(X), dl.Tensor(y)), batch_size=32)
    hist = fit(net, nll, SGD(net.parameters(), lr=0.1), loader, num_epochs=5,
               val_loader=loader, metrics={"accuracy": accuracy}, progress=False)

    tnet = torch.nn.Linear(2, 3)
    with torch.no_grad():
        tnet.weight.copy_(torch.from_numpy(w0))
        tnet.bias.copy_(torch.from_numpy(b0))
    tds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    tloader = torch.utils.data.DataLoader(tds, batch_size=32)
    thist = fit(tnet, torch.nn.functional.cross_entropy, torch.optim.SGD(tnet.parameters(), 0.1),
                tloader, num_epochs=5, val_loader=tloader, metrics={"accuracy": accuracy},
                progress=False)

    assert isinstance(hist, History) and len(hist["loss"]) == 5
    np.testing.assert_allclose(hist["loss"], thist["loss"], rtol=1e-4)
    np.testing.assert_allclose(hist["val_loss"], thist["val_loss"], rtol=1e-4)
    assert hist["loss"][-1] < hist["loss"][0]
    assert hist.last("val_accuracy") > 0.9
    assert len(hist.epoch_times) == 5 and hist["lr"] == [0.1] * 5


def test_early_stopping_restores_the_best_weights():
    X, y = blobs(64)
    net = Softmax2(np.zeros((3, 2), np.float32), np.zeros(3, np.float32))
    loader = DataLoader(TensorDataset(dl.Tensor(X), dl.Tensor(y)), batch_size=64)
    # a learning rate so large that the loss oscillates and stops improving
    hist = fit(net, nll, SGD(net.parameters(), lr=50.0), loader, num_epochs=30,
               val_loader=loader, patience=2, progress=False)
    assert hist.stopped_early and len(hist["loss"]) < 30
    best = min(hist["val_loss"])
    assert hist["val_loss"][hist.best_epoch] == best
    assert evaluate(net, loader, nll)["loss"] == pytest.approx(best, rel=1e-5)


def test_fit_rejects_bad_arguments_and_a_diverging_loss():
    X, y = blobs(32)
    net = Softmax2(np.zeros((3, 2), np.float32), np.zeros(3, np.float32))
    loader = DataLoader(TensorDataset(dl.Tensor(X), dl.Tensor(y)), batch_size=32)
    with pytest.raises(ValueError, match="num_epochs must be at least 1, got 0"):
        fit(net, nll, SGD(net.parameters(), lr=0.1), loader, num_epochs=0)
    with pytest.raises(ValueError, match="needs a val_loader"):
        fit(net, nll, SGD(net.parameters(), lr=0.1), loader, num_epochs=1, patience=2)
    bad = dl.Tensor(np.full_like(X, np.nan))
    nan_loader = DataLoader(TensorDataset(bad, dl.Tensor(y)), batch_size=32)
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        fit(net, nll, SGD(net.parameters(), lr=0.1), nan_loader, num_epochs=1, progress=False)


def test_plots_draw_what_they_are_given():
    import matplotlib.pyplot as plt

    ax = loss_curves({"loss": [3, 2, 1], "val_loss": [3.5, 2.5, 2]})
    assert len(ax.get_lines()) == 2
    X, y = blobs(50)
    ax = decision_boundary(lambda g: g @ np.array([[1, -1], [0, 0]], np.float32), X, y)
    assert ax.get_title() == "Decision boundary"
    fig = image_grid(np.random.rand(6, 64), titles=list("abcdef"), ncols=3)
    assert len([a for a in fig.axes if a.images]) == 6
    fig = feature_maps(np.random.rand(1, 4, 5, 5))
    assert len([a for a in fig.axes if a.images]) == 4
    cm = confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2])
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 0, 1], [0, 0, 2]])
    plot_confusion_matrix(cm)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        decision_boundary(lambda g: g, np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="square images"):
        image_grid(np.zeros((2, 10)))
    plt.close("all")
