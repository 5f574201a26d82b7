"""Seeded synthetic data with known ground truth: regression, 2-D toy sets, mixtures, ratings,
and a panel of many related time series.

Every generator takes a `seed`, is vectorised (no Python loop over samples), and returns
float32 features and int64 labels. Where there is a ground truth (true weights, mixture
centres, user/item factors, the shared promotion response) it is returned too, so a
notebook can check what was learned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "make_regression_data",
    "make_moons",
    "make_spirals",
    "make_gaussian_mixture",
    "Ratings",
    "make_ratings",
    "SeriesPanel",
    "make_series_panel",
    "promotion_lift",
    "months_since_promotion",
]


def regression_stream(seed: int, n_features: int, task: str = "linear", noise: float = 0.1
                      ) -> tuple[np.ndarray, float, Callable[[int], tuple]]:
    """True weights and a function `draw(n) -> (X (n, F) float32, z (n,) float32, y)`.

    Successive draws continue one random stream, so the rows do not depend on how the
    data are cut into chunks. task "linear": y = X @ w + b + noise * N(0, 1) (float32);
    "logistic": y = 1 with probability sigmoid(X @ w + b), else 0 (bool).
    """
    if task not in ("linear", "logistic"):
        raise ValueError(f"task must be 'linear' or 'logistic', got {task!r}")
    truth_rng, x_rng, y_rng = (np.random.default_rng(s)
                               for s in np.random.SeedSequence(seed).spawn(3))
    # scaled so that X @ w has standard deviation about 2 whatever n_features is
    weight = (truth_rng.standard_normal(n_features) * 2.0 / np.sqrt(n_features)).astype(
        np.float32)
    bias = float(np.float32(truth_rng.normal(0.0, 0.5)))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = x_rng.standard_normal((n, n_features), dtype=np.float32)
        # row by row in float64 (not a BLAS matmul, whose rounding depends on how many
        # rows it gets): the same rows come out whatever the chunking
        z = ((X * weight.astype(np.float64)).sum(axis=1) + bias).astype(np.float32)
        if task == "linear":
            y = z + np.float32(noise) * y_rng.standard_normal(n, dtype=np.float32)
        else:
            prob = 0.5 * (1 + np.tanh(z / 2))  # sigmoid(z) without overflow warnings
            y = y_rng.random(n, dtype=np.float32) < prob
        return X, z, y

    return weight, bias, draw


def make_regression_data(n_samples: int = 200, n_features: int = 1, noise: float = 0.1,
                         seed: int = 0, task: str = "linear"
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Linear (or logistic) regression data with known weights.

    X: (n_samples, n_features) float32 standard normal; y: (n_samples,) float32,
    y = X @ weight + bias + noise * N(0, 1) for task="linear", y in {0., 1.} with
    P(y=1) = sigmoid(X @ weight + bias) for task="logistic". (Reshape y to (N, 1) to
    compare with a Linear(F, 1) output.) Returns (X, y, weight (n_features,) float32, bias).
    """
    weight, bias, draw = regression_stream(seed, n_features, task, noise)
    X, _, y = draw(n_samples)
    return X, y.astype(np.float32), weight, bias


def make_moons(n_samples: int = 200, noise: float = 0.1, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as sklearn's make_moons): a non-linear 2-class set.

    Returns X (n_samples, 2) float32 and y (n_samples,) int64 in {0, 1}; class 0 gets
    ceil(n/2) points.
    """
    rng = np.random.default_rng(seed)
    n0 = (n_samples + 1) // 2
    t = np.concatenate([np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n_samples - n0)])
    y = (np.arange(n_samples) >= n0).astype(np.int64)
    X = np.stack([np.where(y == 0, np.cos(t), 1 - np.cos(t)),
                  np.where(y == 0, np.sin(t), 0.5 - np.sin(t))], axis=1)
    X += noise * rng.standard_normal(X.shape)
    return X.astype(np.float32), y


def make_spirals(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms (cs231n's toy set), one per class; not linearly separable.

    Returns X (n_samples, 2) float32 in about [-1, 1]^2 and y (n_samples,) int64 in
    [0, n_classes); the classes are as balanced as n_samples allows.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) * n_classes // n_samples
    r = (np.arange(n_samples) - np.searchsorted(y, y)) / np.maximum(np.bincount(y)[y] - 1, 1)
    theta = y * (2 * np.pi / n_classes) + 4.0 * r + noise * rng.standard_normal(n_samples)
    X = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return X.astype(np.float32), y.astype(np.int64)


def make_gaussian_mixture(n_samples: int = 1000, n_components: int = 8,
                          layout: str = "ring", std: float = 0.05, radius: float = 2.0,
                          seed: int = 0, return_centers: bool = False) -> Any:
    """Samples from a 2-D mixture of equal-weight isotropic Gaussians (the GAN toy problem).

    layout "ring": centres on a circle of `radius`; "grid": a sqrt(k) x sqrt(k) square
    grid spanning [-radius, radius]^2 (n_components must be a square number).
    Returns X (n_samples, 2) float32 and component ids (n_samples,) int64;
    with return_centers=True also the centres (n_components, 2) float32.
    """
    if n_components <= 0:
        raise ValueError(f"n_components must be positive, got {n_components}")
    if layout == "ring":
        angles = 2 * np.pi * np.arange(n_components) / n_components
        centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    elif layout == "grid":
        side = int(round(np.sqrt(n_components)))
        if side * side != n_components:
            raise ValueError(f"layout='grid' needs a square number of components, "
                             f"got n_components={n_components}")
        ticks = np.linspace(-radius, radius, side) if side > 1 else np.zeros(1)
        gx, gy = np.meshgrid(ticks, ticks)
        centers = np.stack([gx.ravel(), gy.ravel()], axis=1)
    else:
        raise ValueError(f"layout must be 'ring' or 'grid', got {layout!r}")
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_components, n_samples)
    X = (centers[ids] + std * rng.standard_normal((n_samples, 2))).astype(np.float32)
    if return_centers:
        return X, ids.astype(np.int64), centers.astype(np.float32)
    return X, ids.astype(np.int64)


@dataclass(frozen=True)
class Ratings:
    """Observed user-item ratings with the model that generated them.

    Triples: `*_users`, `*_items` (int64) and `*_ratings` (float32), each (n_train,)
    or (n_test,). user_factors (n_users, rank), item_factors (n_items, rank) float32;
    global_mean, user_bias (n_users,), item_bias (n_items,): the noiseless rating of
    (u, i) is global_mean + user_bias[u] + item_bias[i] + user_factors[u] @ item_factors[i].
    user_weights (n_users,), item_weights (n_items,), taste_selection: pair (u, i) was drawn
    with weight user_weights[u] * item_weights[i] * exp(taste_selection * p_u @ q_i)
    (all ones and 0 when pairs are drawn uniformly).
    """

    n_users: int
    n_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    train_ratings: np.ndarray
    test_users: np.ndarray
    test_items: np.ndarray
    test_ratings: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    noise: float
    global_mean: float = 0.0
    user_bias: np.ndarray | None = None
    item_bias: np.ndarray | None = None
    user_weights: np.ndarray | None = None
    item_weights: np.ndarray | None = None
    taste_selection: float = 0.0

    def true_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Noiseless ratings of the given (user, item) pairs: (len(users),) float32."""
        r = np.einsum("nk,nk->n", self.user_factors[users], self.item_factors[items])
        if self.user_bias is not None:
            r = r + self.user_bias[users] + self.item_bias[items]
        return (r + np.float32(self.global_mean)).astype(np.float32)

    def true_matrix(self) -> np.ndarray:
        """Noiseless ratings of all pairs: (n_users, n_items) float32."""
        M = self.user_factors @ self.item_factors.T + np.float32(self.global_mean)
        if self.user_bias is not None:
            M += self.user_bias[:, None] + self.item_bias[None, :]
        return M.astype(np.float32)

    def _matrix(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray,
                fmt: str) -> Any:
        import scipy.sparse as sp  # lazily: scipy is not needed by the rest of the engine

        coo = sp.coo_matrix((ratings, (users, items)), shape=(self.n_users, self.n_items))
        return coo.asformat(fmt)

    def train_matrix(self, fmt: str = "csr") -> Any:
        """The training ratings as a scipy.sparse matrix (n_users, n_items), "csr" or "coo"."""
        return self._matrix(self.train_users, self.train_items, self.train_ratings, fmt)

    def test_matrix(self, fmt: str = "csr") -> Any:
        """The held-out ratings as a scipy.sparse matrix (n_users, n_items)."""
        return self._matrix(self.test_users, self.test_items, self.test_ratings, fmt)


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Weights 1 / rank**exponent, ranks in a random order, normalised to mean 1: (n,)."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    w = w[rng.permutation(n)]
    return w / w.mean()


def make_ratings(n_users: int = 500, n_items: int = 300, rank: int = 5,
                 density: float = 0.05, noise: float = 0.1, seed: int = 0,
                 test_size: float = 0.2, *, mean: float = 0.0, user_bias_std: float = 0.0,
                 item_bias_std: float = 0.0, item_popularity: float = 0.0,
                 user_activity: float = 0.0, taste_selection: float = 0.0) -> Ratings:
    """Sparse synthetic ratings: r(u, i) = mean + b_u + b_i + p_u @ q_i + noise.

    p_u, q_i ~ N(0, 1/sqrt(rank)) per entry, so p_u @ q_i has unit variance; b_u ~
    N(0, user_bias_std^2), b_i ~ N(0, item_bias_std^2). round(density * n_users * n_items)
    distinct (user, item) pairs are observed. With item_popularity = user_activity = 0
    (the defaults) they are chosen uniformly; otherwise pair (u, i) is drawn, without
    replacement, with weight a_u * w_i, where w_i = 1 / rank_i**item_popularity over a
    random popularity order of the items (a Zipf long tail; 1.0 is typical of real
    catalogues) and a_u likewise with user_activity, times exp(taste_selection * p_u @ q_i)
    (users pick items they expect to like: the ratings are missing not at random, and
    which pairs are observed carries taste). A random test_size share of the pairs
    is held out. Returns a `Ratings` with the train/test triples, the true model and the
    weights, and train_matrix()/test_matrix() (scipy.sparse).
    """
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if not 0 <= test_size < 1:
        raise ValueError(f"test_size must be in [0, 1), got {test_size}")
    if min(user_bias_std, item_bias_std, item_popularity, user_activity, taste_selection) < 0:
        raise ValueError("user_bias_std, item_bias_std, item_popularity, user_activity and "
                         "taste_selection must be >= 0")
    rng = np.random.default_rng(seed)
    scale = rank ** -0.25
    P = (scale * rng.standard_normal((n_users, rank))).astype(np.float32)
    Q = (scale * rng.standard_normal((n_items, rank))).astype(np.float32)
    n_obs = max(1, int(round(density * n_users * n_items)))
    uniform = item_popularity == 0 and user_activity == 0 and taste_selection == 0
    extras = np.random.default_rng([seed, 12])  # a second stream: defaults stay as they were
    b_user = (user_bias_std * extras.standard_normal(n_users)).astype(np.float32)
    b_item = (item_bias_std * extras.standard_normal(n_items)).astype(np.float32)
    a_user = _zipf_weights(n_users, user_activity, extras)
    w_item = _zipf_weights(n_items, item_popularity, extras)
    if uniform:
        cells = rng.choice(n_users * n_items, size=n_obs, replace=False)
    else:
        # weighted sampling without replacement (Gumbel top-k): keep the n_obs pairs with
        # the largest log(a_u * w_i) + Gumbel noise
        keys = np.log(a_user)[:, None] + np.log(w_item)[None, :]
        if taste_selection:
            keys = keys + taste_selection * (P.astype(np.float64) @ Q.T)
        keys = keys.ravel()
        keys += rng.gumbel(size=keys.size)
        cells = np.argpartition(-keys, n_obs - 1)[:n_obs]
        cells = cells[rng.permutation(n_obs)]
    users, items = cells // n_items, cells % n_items
    ratings = np.einsum("nk,nk->n", P[users], Q[items])
    ratings = ratings + mean + b_user[users] + b_item[items]
    ratings = (ratings + noise * rng.standard_normal(n_obs)).astype(np.float32)
    n_test = int(round(test_size * n_obs))
    is_test = np.zeros(n_obs, dtype=bool)
    is_test[rng.permutation(n_obs)[:n_test]] = True
    tr, te = ~is_test, is_test
    return Ratings(n_users, n_items, users[tr].astype(np.int64), items[tr].astype(np.int64),
                   ratings[tr], users[te].astype(np.int64), items[te].astype(np.int64),
                   ratings[te], P, Q, float(noise), float(mean), b_user, b_item,
                   a_user.astype(np.float32), w_item.astype(np.float32), float(taste_selection))



# The seasonal shapes a product can follow, as log-multipliers over the 12 months of a
# cycle with the peak at month 0 (each series shifts its shape to its own peak month).
_MONTHS = np.arange(12)


def _bump(centre: float, width: float) -> np.ndarray:
    dist = (_MONTHS - centre + 6) % 12 - 6  # circular distance in months
    return np.exp(-0.5 * (dist / width) ** 2)


SEASONAL_SHAPES = {
    "broad": 0.6 * np.cos(2 * np.pi * _MONTHS / 12),  # a long high season
    "spike": 1.5 * _bump(0, 0.6),  # one month (a holiday)
    "double": 1.0 * _bump(0, 0.8) + 0.6 * _bump(6, 0.8),  # two seasons a year
    "flat": np.zeros(12),  # staples
}


def promotion_lift(discount: Any, months_since_last: Any = 12.0, max_lift: float = 1.5,
                   threshold: float = 0.3, wear_out: float = 3.0) -> np.ndarray:
    """Log-lift of a promotion: an S-curve in its depth, weakened by a recent promotion.

    max_lift * sigmoid((discount - threshold) / 0.03) * (1 - exp(-gap / wear_out)), where gap
    = months since the previous promotion, capped at 12; exactly 0 where discount == 0.
    Arguments broadcast (e.g. discount (n_series, n_steps)); returns float64.
    """
    d = np.asarray(discount, dtype=np.float64)
    gap = np.minimum(np.asarray(months_since_last, dtype=np.float64), 12.0)
    s_curve = 0.5 * (1 + np.tanh((d - threshold) / 0.06))  # = sigmoid((d - threshold) / 0.03)
    return np.where(d > 0, max_lift * s_curve * (1 - np.exp(-gap / wear_out)), 0.0)


def months_since_promotion(discount: np.ndarray) -> np.ndarray:
    """For every month, the months since the series' previous promotion, capped at 12.

    discount: (n_series, n_steps), 0 = no promotion. Before a series' first promotion the
    gap counts as 12. Returns (n_series, n_steps) float64.
    """
    n_series, n_steps = discount.shape
    t = np.arange(n_steps, dtype=np.float64)
    marks = np.where(discount > 0, t, -np.inf)
    # the month of the latest promotion strictly before t (-inf if none)
    before = np.c_[np.full(n_series, -np.inf), np.maximum.accumulate(marks, axis=1)[:, :-1]]
    return np.minimum(t - before, 12.0)


@dataclass(frozen=True)
class SeriesPanel:
    """Monthly sales of many products, their planned promotions, and the model behind them.

    sales, discount, noiseless: (n_series, n_steps) float32. discount is the promotion's
    depth (0 = none, else 0.05-0.5, i.e. 5-50 % off), known in advance; noiseless is the
    sales without noise (their median). Per series, (n_series,): shape (int64, an index into
    shape_names and shapes), peak_month (int64), amplitude, level, growth (log per month),
    noise (sd of the log noise), float32. shapes: (4, 12) float32 log-multipliers with the
    peak at month 0. The promotion response, shared by every series, is `lift`.
    """

    sales: np.ndarray
    discount: np.ndarray
    noiseless: np.ndarray
    shape: np.ndarray
    peak_month: np.ndarray
    amplitude: np.ndarray
    level: np.ndarray
    growth: np.ndarray
    noise: np.ndarray
    shapes: np.ndarray
    shape_names: tuple[str, ...]
    max_lift: float
    threshold: float
    wear_out: float
    dip: float

    def lift(self, discount: Any, months_since_last: Any = 12.0) -> np.ndarray:
        """The panel's shared log-lift of a promotion (`promotion_lift` with its parameters)."""
        return promotion_lift(discount, months_since_last, self.max_lift, self.threshold,
                              self.wear_out)


def make_series_panel(n_series: int = 1000, n_steps: int = 60, seed: int = 0, *,
                      promo_prob: float = 0.15, max_lift: float = 1.5, threshold: float = 0.3,
                      wear_out: float = 3.0, dip: float = 0.3,
                      noise: tuple[float, float] = (0.1, 0.3), growth_sd: float = 0.005
                      ) -> SeriesPanel:
    """Monthly sales of many products that share seasonal shapes and a promotion response.

    log sales[i, t] = log level_i + growth_i * t + amplitude_i * shape_k(t - peak_i)
                      + lift[i, t] - dip * lift[i, t - 1] + noise_i * N(0, 1)

    Each product follows one of four seasonal shapes (broad, spike, double, flat) moved to
    its own peak month; levels span orders of magnitude (log-normal, median 100 a month).
    Each month has a promotion with probability promo_prob, 5-50 % deep, planned ahead.
    The response to it is the same for every product (`promotion_lift`): an S-shaped
    deal-effect curve (almost nothing below `threshold`, a log-lift up to max_lift above
    it), weakened when the previous promotion was recent (time constant `wear_out` months),
    and followed by a dip of `dip` times the lift the month after (customers stocked up).
    Series are drawn one after another, so the first k series do not depend on n_series.
    Returns a SeriesPanel of float32 arrays (shapes (n_series, n_steps)).
    """
    if n_series < 1 or n_steps < 1:
        raise ValueError(f"n_series and n_steps must be positive, got {n_series} and {n_steps}")
    if not 0 <= promo_prob <= 1:
        raise ValueError(f"promo_prob must be in [0, 1], got {promo_prob}")
    if not 0 <= noise[0] <= noise[1]:
        raise ValueError(f"noise must be a range (low, high) with 0 <= low <= high, got {noise}")
    if wear_out <= 0:
        raise ValueError(f"wear_out must be positive (months), got {wear_out}")
    # one random stream per quantity, each filled series by series (prefix-stable)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(9)]
    shapes = np.stack([v - v.mean() for v in SEASONAL_SHAPES.values()])
    shape = streams[0].integers(0, len(shapes), n_series)
    peak = streams[1].integers(0, 12, n_series)
    amplitude = streams[2].uniform(0.8, 1.2, n_series)
    level = 100.0 * np.exp(streams[3].standard_normal(n_series))
    growth = growth_sd * streams[4].standard_normal(n_series)
    sigma = streams[5].uniform(noise[0], noise[1], n_series)
    is_promo = streams[6].random((n_series, n_steps)) < promo_prob
    depth = streams[7].uniform(0.05, 0.5, (n_series, n_steps))
    discount = np.where(is_promo, depth, 0.0).astype(np.float32)

    t = np.arange(n_steps)
    cycle = (np.arange(12)[None, :] - peak[:, None]) % 12
    season = amplitude[:, None] * shapes[shape[:, None], cycle]       # (n_series, 12)
    season -= np.log(np.exp(season).mean(axis=1, keepdims=True))      # level = yearly mean
    lift = promotion_lift(discount, months_since_promotion(discount), max_lift, threshold,
                          wear_out)
    after = np.c_[np.zeros(n_series), lift[:, :-1]]                    # last month's lift
    log_mean = (np.log(level)[:, None] + growth[:, None] * t + season[:, t % 12]
                + lift - dip * after)
    log_sales = log_mean + sigma[:, None] * streams[8].standard_normal((n_series, n_steps))
    return SeriesPanel(
        np.exp(log_sales).astype(np.float32), discount, np.exp(log_mean).astype(np.float32),
        shape.astype(np.int64), peak.astype(np.int64), amplitude.astype(np.float32),
        level.astype(np.float32), growth.astype(np.float32), sigma.astype(np.float32),
        shapes.astype(np.float32), tuple(SEASONAL_SHAPES), float(max_lift), float(threshold),
        float(wear_out), float(dip))
