"""Seeded synthetic data: regression, moons, spirals, Gaussian mixtures, ratings, series panel."""

from __future__ import annotations

import numpy as np
import pytest

from dlbd_lib.data import (
    make_gaussian_mixture,
    make_moons,
    make_ratings,
    make_regression_data,
    make_series_panel,
    make_spirals,
    months_since_promotion,
    promotion_lift,
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


def test_ratings_with_biases_long_tail_and_skewed_activity() -> None:
    kw = dict(n_users=400, n_items=300, rank=3, density=0.05, noise=0.3, seed=1)
    r = make_ratings(**kw, mean=3.5, user_bias_std=0.5, item_bias_std=0.8,
                     item_popularity=1.0, user_activity=0.7)
    n_obs = 6_000
    assert len(r.train_ratings) + len(r.test_ratings) == n_obs
    assert r.user_bias.shape == (400,) and r.item_bias.shape == (300,)
    assert r.user_weights.shape == (400,) and r.item_weights.shape == (300,)
    assert r.user_factors.dtype == r.train_ratings.dtype == np.float32
    pairs = np.r_[r.train_users * 300 + r.train_items, r.test_users * 300 + r.test_items]
    assert len(np.unique(pairs)) == n_obs  # still distinct pairs
    # the noise around the full model (mean + biases + p.q) has the stated size
    resid = r.train_ratings - r.true_ratings(r.train_users, r.train_items)
    assert resid.std() == pytest.approx(0.3, rel=0.1)
    unbiased = r.train_ratings - r.user_bias[r.train_users] - r.item_bias[r.train_items]
    assert unbiased.mean() == pytest.approx(3.5, abs=0.1)
    M = r.true_matrix()
    np.testing.assert_allclose(M[r.test_users, r.test_items],
                               r.true_ratings(r.test_users, r.test_items), rtol=1e-5)

    # a long tail, measurable: the 10% most popular items hold far more than 10% of the
    # ratings, and the more heavily weighted items get more ratings
    def top10_share(counts: np.ndarray) -> float:
        s = np.sort(counts)[::-1]
        return s[: len(s) // 10].sum() / s.sum()

    item_counts = np.bincount(np.r_[r.train_items, r.test_items], minlength=300)
    user_counts = np.bincount(np.r_[r.train_users, r.test_users], minlength=400)
    flat = make_ratings(**kw)
    flat_counts = np.bincount(np.r_[flat.train_items, flat.test_items], minlength=300)
    assert top10_share(item_counts) > 0.4 > 0.2 > top10_share(flat_counts)
    assert top10_share(user_counts) > 0.2
    assert np.corrcoef(np.log(r.item_weights), np.log1p(item_counts))[0, 1] > 0.8
    assert np.corrcoef(np.log(r.user_weights), np.log1p(user_counts))[0, 1] > 0.8

    # the biases are recoverable: per-user and per-item mean residuals track them
    def mean_by(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
        return np.bincount(idx, values, n) / np.maximum(np.bincount(idx, minlength=n), 1)

    y = r.train_ratings - r.train_ratings.mean()
    b_item = mean_by(r.train_items, y, 300)
    b_user = mean_by(r.train_users, y - b_item[r.train_items], 400)
    seen_i = np.bincount(r.train_items, minlength=300) >= 10
    seen_u = np.bincount(r.train_users, minlength=400) >= 10
    assert np.corrcoef(b_item[seen_i], r.item_bias[seen_i])[0, 1] > 0.85
    assert np.corrcoef(b_user[seen_u], r.user_bias[seen_u])[0, 1] > 0.7
    # seeded, and the defaults are a model without biases, drawn uniformly
    again = make_ratings(**kw, mean=3.5, user_bias_std=0.5, item_bias_std=0.8,
                         item_popularity=1.0, user_activity=0.7)
    np.testing.assert_array_equal(again.test_ratings, r.test_ratings)
    assert not flat.user_bias.any() and np.all(flat.item_weights == 1)
    with pytest.raises(ValueError, match="item_popularity"):
        make_ratings(item_popularity=-1.0)


def test_ratings_taste_selection_makes_them_missing_not_at_random() -> None:
    kw = dict(n_users=300, n_items=200, rank=3, density=0.05, noise=0.3, seed=2)
    picky = make_ratings(**kw, taste_selection=1.0)
    blind = make_ratings(**kw)

    def observed_taste(r) -> float:
        u, i = np.r_[r.train_users, r.test_users], np.r_[r.train_items, r.test_items]
        return float(np.mean(np.sum(r.user_factors[u] * r.item_factors[i], axis=1)))

    # users pick items they like: the observed pairs have a higher true taste p_u . q_i
    assert picky.taste_selection == 1.0 and blind.taste_selection == 0.0
    assert observed_taste(picky) > 0.5 > 0.1 > abs(observed_taste(blind))
    assert picky.train_ratings.mean() > blind.train_ratings.mean() + 0.4


def test_series_panel_shapes_dtypes_and_seeding() -> None:
    p = make_series_panel(n_series=50, n_steps=36, seed=3)
    for arr in (p.sales, p.discount, p.noiseless):
        assert arr.shape == (50, 36) and arr.dtype == np.float32
    for arr in (p.amplitude, p.level, p.growth, p.noise):
        assert arr.shape == (50,) and arr.dtype == np.float32
    assert p.shape.dtype == p.peak_month.dtype == np.int64
    assert set(p.shape.tolist()) <= {0, 1, 2, 3} and set(p.peak_month.tolist()) <= set(range(12))
    assert p.shapes.shape == (4, 12) and p.shape_names == ("broad", "spike", "double", "flat")
    assert (p.sales > 0).all() and (p.noiseless > 0).all()
    promo = p.discount[p.discount > 0]
    assert promo.min() >= 0.05 and promo.max() <= 0.5
    again = make_series_panel(n_series=50, n_steps=36, seed=3)
    other = make_series_panel(n_series=50, n_steps=36, seed=4)
    assert np.array_equal(again.sales, p.sales) and np.array_equal(again.discount, p.discount)
    assert not np.array_equal(other.sales, p.sales)
    # series are drawn one after another: a longer panel starts with the same series
    longer = make_series_panel(n_series=500, n_steps=36, seed=3)
    for name in ("sales", "discount", "noiseless", "shape", "peak_month", "level", "noise"):
        np.testing.assert_array_equal(getattr(longer, name)[:50], getattr(p, name))


def _base_log_sales(p) -> np.ndarray:
    """log level + growth + season: the panel's log-sales without promotions and noise."""
    t = np.arange(p.sales.shape[1])
    season = p.amplitude[:, None] * p.shapes[p.shape[:, None], (t - p.peak_month[:, None]) % 12]
    season -= np.log(np.exp(season[:, :12]).mean(axis=1, keepdims=True))
    return np.log(p.level)[:, None] + p.growth[:, None] * t + season


def test_series_panel_follows_its_model() -> None:
    p = make_series_panel(n_series=300, n_steps=240, seed=0, promo_prob=0.2)
    lift = p.lift(p.discount, months_since_promotion(p.discount))
    after = np.c_[np.zeros(len(lift)), lift[:, :-1]]
    np.testing.assert_allclose(np.log(p.noiseless), _base_log_sales(p) + lift - p.dip * after,
                               atol=1e-4)
    # multiplicative noise of each series' own size
    resid_sd = np.log(p.sales / p.noiseless).std(axis=1)
    np.testing.assert_allclose(resid_sd, p.noise, rtol=0.25)
    assert (p.discount > 0).mean() == pytest.approx(0.2, abs=0.01)
    # levels span orders of magnitude, so a model must normalise each series
    assert np.percentile(p.level, 95) / np.percentile(p.level, 5) > 10


def test_series_panel_promotion_response_is_shared_and_nonlinear() -> None:
    p = make_series_panel(n_series=2_000, n_steps=60, seed=1)
    # a short series sees few promotions of its own; the panel sees thousands
    per_series = (p.discount[:, :36] > 0).sum(axis=1)
    assert per_series.mean() < 8 and per_series.sum() > 8_000
    # the response is an S-curve in the depth: flat below the threshold, steep around it,
    # saturated above; a straight line through 0 and lift(0.5) misses it by far
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    lift = p.lift(d)
    assert lift[0] < 0.01 and lift[1] < 0.1 and lift[3] > 0.9 * p.max_lift
    assert lift[2] - lift[1] > 5 * (lift[1] - lift[0])
    assert np.max(np.abs(lift - d / 0.5 * lift[-1])) > 0.3
    # wear-out: a promotion right after another lifts less; no promotion, no lift
    assert p.lift(0.4, 1) < 0.5 * p.lift(0.4, 12) and p.lift(0.0) == 0.0
    # the sales carry the shared response: pooled over the panel, the log-sales above the
    # base in deep promotions a year after the last one average out to the true lift; a
    # single such month is off by the noise
    gap = months_since_promotion(p.discount)
    after = np.c_[np.zeros(len(gap)), p.lift(p.discount, gap)[:, :-1]]
    excess = np.log(p.sales) - _base_log_sales(p) + p.dip * after
    deep = (p.discount > 0.4) & (gap >= 12)
    assert deep.sum() > 100
    assert excess[deep].mean() == pytest.approx(p.lift(p.discount[deep]).mean(), abs=0.03)
    assert (excess[deep] - p.lift(p.discount[deep])).std() > 0.1


def test_months_since_promotion_and_lift_by_hand() -> None:
    d = np.array([[0.0, 0.3, 0.0, 0.0, 0.2, 0.0], [0.0] * 6])
    np.testing.assert_array_equal(months_since_promotion(d),
                                  [[12, 12, 1, 2, 3, 1], [12] * 6])
    # sigmoid((0.3 - 0.3) / 0.03) = 1/2, fully recovered after 12 months: half the max lift
    assert promotion_lift(0.3, 12, max_lift=2.0, wear_out=1.0) == pytest.approx(1 - np.exp(-12))
    assert promotion_lift(0.3, 1, max_lift=2.0, wear_out=1.0) == pytest.approx(1 - np.exp(-1))


def test_series_panel_errors() -> None:
    with pytest.raises(ValueError, match="n_series and n_steps must be positive, got 0 and 60"):
        make_series_panel(n_series=0)
    with pytest.raises(ValueError, match="promo_prob must be in"):
        make_series_panel(10, promo_prob=1.5)
    with pytest.raises(ValueError, match=r"noise must be a range.*\(0.3, 0.1\)"):
        make_series_panel(10, noise=(0.3, 0.1))
    with pytest.raises(ValueError, match="wear_out must be positive"):
        make_series_panel(10, wear_out=0.0)
