"""Seeded synthetic data: regression, moons, spirals, Gaussian mixtures, ratings."""

from __future__ import annotations

import numpy as np
import pytest

from dlbd_lib.data import (
    make_gaussian_mixture,
    make_moons,
    make_ratings,
    make_regression_data,
    make_spirals,
)

# every test here fails if anything opens a connection (fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("no_socket")


def same(a: tuple, b: tuple) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def test_regression_data_recovers_the_true_weights() -> None:
    X, y, w, b = make_regression_data(2_000, n_features=3, noise=0.1, seed=0)
    assert X.shape == (2_000, 3) and y.shape == (2_000,) and w.shape == (3,)
    assert X.dtype == y.dtype == w.dtype == np.float32 and isinstance(b, float)
    coef, *_ = np.linalg.lstsq(np.c_[X, np.ones(len(X))], y, rcond=None)
    np.testing.assert_allclose(coef, np.r_[w, b], atol=0.01)
    assert np.std(y - X @ w - b) == pytest.approx(0.1, rel=0.1)
    assert same(make_regression_data(50, seed=4), make_regression_data(50, seed=4))
    assert not same(make_regression_data(50, seed=4), make_regression_data(50, seed=5))
    _, y_cls, _, _ = make_regression_data(100, 2, seed=0, task="logistic")
    assert set(np.unique(y_cls).tolist()) <= {0.0, 1.0}


def test_moons() -> None:
    X, y = make_moons(101, noise=0.0, seed=0)
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [51, 50]
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0, atol=1e-6)  # upper half circle
    assert same(make_moons(30, seed=1), make_moons(30, seed=1))


def test_spirals() -> None:
    X, y = make_spirals(300, n_classes=3, noise=0.1, seed=0)
    assert X.shape == (300, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.abs(X).max() <= 1.0 + 1e-6
    # not linearly separable: least-squares one-vs-rest does poorly
    A = np.c_[X, np.ones(len(X))]
    W, *_ = np.linalg.lstsq(A, np.eye(3)[y], rcond=None)
    assert (np.argmax(A @ W, 1) == y).mean() < 0.75
    assert same(make_spirals(seed=3), make_spirals(seed=3))


@pytest.mark.parametrize("layout,k", [("ring", 8), ("grid", 25)])
def test_gaussian_mixture(layout: str, k: int) -> None:
    X, ids, centers = make_gaussian_mixture(4_000, n_components=k, layout=layout, std=0.02,
                                            seed=0, return_centers=True)
    assert X.shape == (4_000, 2) and X.dtype == np.float32
    assert ids.dtype == np.int64 and centers.shape == (k, 2)
    assert set(ids.tolist()) == set(range(k))
    nearest = np.argmin(((X[:, None] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, ids)
    spread = (X - centers[ids]).std()
    assert spread == pytest.approx(0.02, rel=0.1)
    if layout == "ring":
        np.testing.assert_allclose(np.hypot(*centers.T), 2.0, rtol=1e-6)
    assert same(make_gaussian_mixture(100, seed=1), make_gaussian_mixture(100, seed=1))


def test_gaussian_mixture_errors() -> None:
    with pytest.raises(ValueError, match="square number.*n_components=8"):
        make_gaussian_mixture(10, n_components=8, layout="grid")
    with pytest.raises(ValueError, match="layout"):
        make_gaussian_mixture(10, layout="spiral")


def test_ratings_structure_and_ground_truth() -> None:
    r = make_ratings(n_users=200, n_items=100, rank=4, density=0.1, noise=0.1, seed=0)
    n_obs = 2_000
    assert len(r.train_ratings) + len(r.test_ratings) == n_obs
    assert len(r.test_ratings) == 400
    for arr in (r.train_users, r.train_items, r.test_users, r.test_items):
        assert arr.dtype == np.int64
    assert r.train_ratings.dtype == r.test_ratings.dtype == np.float32
    assert r.user_factors.shape == (200, 4) and r.item_factors.shape == (100, 4)
    # observed pairs are distinct, and train and test do not overlap
    pairs = np.r_[r.train_users * 100 + r.train_items, r.test_users * 100 + r.test_items]
    assert len(np.unique(pairs)) == n_obs
    # ratings = true low-rank values + noise of the given size
    resid = r.train_ratings - r.true_ratings(r.train_users, r.train_items)
    assert resid.std() == pytest.approx(0.1, rel=0.1)
    assert r.true_ratings(r.train_users, r.train_items).std() == pytest.approx(1.0, rel=0.25)
    M = r.train_matrix()
    assert M.shape == (200, 100) and M.nnz == len(r.train_ratings) and M.format == "csr"
    assert r.test_matrix("coo").format == "coo"
    np.testing.assert_allclose(M[r.train_users, r.train_items].A1, r.train_ratings)
    again = make_ratings(n_users=200, n_items=100, rank=4, density=0.1, noise=0.1, seed=0)
    np.testing.assert_array_equal(again.test_ratings, r.test_ratings)
    with pytest.raises(ValueError, match="density"):
        make_ratings(density=0)
