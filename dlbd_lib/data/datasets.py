"""The course's offline datasets: images (digits), video (moving digits), time series.

Everything here is read from files that installed packages ship (scikit-learn,
statsmodels) or generated from them with a seed: nothing is downloaded, ever. Each
loader's docstring gives shapes, dtypes, source and licence.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "load_digits",
    "moving_digits",
    "MOVING_DIRECTIONS",
    "TimeSeries",
    "load_co2",
    "load_sunspots",
]


# ---- digits ---------------------------------------------------------------------------
def _package_file(package: str, *parts: str) -> Path:
    """A data file that an installed package ships, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed; it ships this course's data "
                          f"(python -m pip install {package})")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.is_file():
        raise FileNotFoundError(f"the data file {path} is missing from the installed "
                                f"{package}; reinstall {package}")
    return path


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    # the csv that sklearn.datasets.load_digits reads, read directly: importing
    # scikit-learn would take seconds
    path = _package_file("sklearn", "datasets", "data", "digits.csv.gz")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)  # (1797, 65): pixels, label
    X = table[:, :-1] / np.float32(16.0)
    y = table[:, -1].astype(np.int64)
    X.flags.writeable = False  # the cached copy; callers get copies
    y.flags.writeable = False
    return X, y


def _stratified_test_mask(y: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """Boolean (N,) mask: round(test_size * n_c) random samples of each class c."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    order = perm[np.argsort(y[perm], kind="stable")]  # grouped by class, random within
    counts = np.bincount(y)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y)) - np.repeat(starts, counts)  # position within class
    n_test = np.rint(test_size * counts).astype(np.int64)
    return rank < n_test[y]


def load_digits(split: str | None = None, flatten: bool = True, test_size: float = 0.25,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits, 1,797 images of 0-9, bundled with scikit-learn.

    Returns X float32 in [0, 1] (pixel values 0-16 divided by 16), (N, 64) when flatten,
    else (N, 1, 8, 8) (channels first, as Conv2d wants); y (N,) int64 in 0-9.
    split: None (all 1,797), "train" or "test": a stratified split, deterministic for a
    given seed and test_size (test gets round(test_size * n) images of each digit; with
    the defaults 450 test and 1,347 train images).

    Source: UCI ML "Optical Recognition of Handwritten Digits" (Alpaydin & Kaynak, 1998),
    test set part, as shipped in scikit-learn (sklearn/datasets/data/digits.csv.gz).
    Licence: CC BY 4.0 (UCI Machine Learning Repository); scikit-learn is BSD-3-Clause.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    X, y = _digits()
    if split is not None:
        test = _stratified_test_mask(y, test_size, seed)
        keep = test if split == "test" else ~test
        X, y = X[keep], y[keep]
    X, y = np.array(X), np.array(y)  # writable copies
    if not flatten:
        X = X.reshape(-1, 1, 8, 8)
    return X, y


# ---- moving digits (video) ------------------------------------------------------------
MOVING_DIRECTIONS = ("right", "left", "down", "up",
                     "down-right", "down-left", "up-right", "up-left")
_STEPS = np.array([(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)])


def moving_digits(n_clips: int, n_frames: int = 8, size: int = 24, seed: int = 0,
                  n_directions: int = 4, speed: int = 1, split: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Video clips of one 8x8 digit moving in a straight line across a size x size canvas.

    Each clip takes a random digit image (from `load_digits(split)`), a random direction
    among the first n_directions of MOVING_DIRECTIONS (4: right, left, down, up; 8 adds
    the diagonals), and a random start such that the digit stays inside the canvas,
    moving `speed` pixels per frame. A frame taken at a random time does not tell the
    direction, so a model must compare frames; the first and last frames do leak it,
    since the whole path must fit on the canvas (notebook 07 shows this shortcut).

    Returns clips (n_clips, n_frames, 1, size, size) float32 in [0, 1], digit labels
    (n_clips,) int64 in 0-9, and direction labels (n_clips,) int64 in [0, n_directions).
    Source and licence: made from the scikit-learn digits (see load_digits, CC BY 4.0).
    """
    if n_directions not in (4, 8):
        raise ValueError(f"n_directions must be 4 or 8, got {n_directions}")
    travel = (n_frames - 1) * speed
    if n_frames < 1 or speed < 0 or size < 8 + travel:
        raise ValueError(f"a digit moving {speed} px/frame for {n_frames} frames needs a "
                         f"canvas of at least {8 + travel} pixels, got size={size}")
    images, labels = load_digits(split=split, flatten=False)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(labels), n_clips)
    direction = rng.integers(0, n_directions, n_clips)
    step = _STEPS[direction] * speed  # (N, 2): rows, cols per frame
    # the start lies where the whole path fits: [0, size - 8 - travel] on a moving axis
    # (shifted by travel when moving towards 0), [0, size - 8] on a still one
    room = np.where(step != 0, size - 8 - travel, size - 8)
    start = rng.integers(0, room + 1) + np.where(step < 0, travel, 0)

    clips = np.zeros((n_clips, n_frames, size, size), dtype=np.float32)
    clip_idx = np.arange(n_clips)[:, None, None]
    offsets = np.arange(8)
    for t in range(n_frames):
        r, c = (start + t * step).T
        rows = (r[:, None] + offsets)[:, :, None]  # (N, 8, 1)
        cols = (c[:, None] + offsets)[:, None, :]  # (N, 1, 8)
        clips[clip_idx, t, rows, cols] = images[pick, 0]
    return clips[:, :, None], labels[pick], direction.astype(np.int64)


# ---- time series ----------------------------------------------------------------------
class TimeSeries(NamedTuple):
    """A univariate series: dates (T,) numpy datetime64 and values (T,) float32."""

    dates: np.ndarray
    values: np.ndarray


def _statsmodels_file(*parts: str) -> Path:
    """A data file that statsmodels ships, found without importing statsmodels."""
    return _package_file("statsmodels", "datasets", *parts)


def _months(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    return ((year - 1970) * 12 + month - 1).astype("datetime64[M]")


def load_co2() -> TimeSeries:
    """Monthly mean atmospheric CO2 at Mauna Loa, March 1958 - December 2001 (526 months).

    Returns TimeSeries(dates (526,) datetime64[M], values (526,) float32, ppmv): the
    monthly means of statsmodels' weekly series; the 5 months with no measurement
    (June and October 1958, February-April 1964) are filled by linear interpolation.

    Source: C.D. Keeling and T.P. Whorf, Scripps Institution of Oceanography (SIO),
    "Atmospheric CO2 concentrations derived from flask air samples at sites in the SIO
    network", CDIAC, Oak Ridge National Laboratory; file statsmodels/datasets/co2/co2.csv.
    Licence: public domain (as stated by statsmodels' co2 dataset).
    """
    raw = np.loadtxt(_statsmodels_file("co2", "co2.csv"), delimiter=",", skiprows=1,
                     dtype=str)
    day = raw[:, 0].astype(np.int64)  # YYYYMMDD
    month_index = (day // 10000) * 12 + (day // 100) % 100 - 1
    observed = raw[:, 1] != ""
    values = raw[observed, 1].astype(np.float64)
    first = month_index.min()
    slot = month_index[observed] - first
    n = month_index.max() - first + 1
    sums = np.bincount(slot, weights=values, minlength=n)
    counts = np.bincount(slot, minlength=n)
    t = np.arange(n)
    have = counts > 0
    monthly = np.interp(t, t[have], sums[have] / counts[have])
    index = first + t
    return TimeSeries(_months(index // 12, index % 12 + 1), monthly.astype(np.float32))


def load_sunspots(monthly: bool = True) -> TimeSeries:
    """Sunspot numbers: monthly means 1749-2008 (3,120 months) or yearly 1700-2008 (309).

    Returns TimeSeries(dates (T,) datetime64[M] (monthly) or datetime64[Y] (yearly),
    values (T,) float32, the sunspot number). A quasi-periodic (about 11-year) series
    with no missing values.

    Source: NOAA National Geophysical Data Center (NGDC), via the files statsmodels ships
    (datasets/sunspots/src/sunspots_monthly.dat, datasets/sunspots/sunspots.csv).
    Licence: public domain (as stated by statsmodels' sunspots dataset).
    """
    if not monthly:
        raw = np.loadtxt(_statsmodels_file("sunspots", "sunspots.csv"), delimiter=",",
                         skiprows=1)
        years = raw[:, 0].astype(np.int64)
        return TimeSeries((years - 1970).astype("datetime64[Y]"), raw[:, 1].astype(np.float32))
    path = _statsmodels_file("sunspots", "src", "sunspots_monthly.dat")
    rows = [line.split() for line in path.read_text().splitlines()]
    rows = [r for r in rows if len(r) == 13 and r[0].isdigit() and len(r[0]) == 4]
    table = np.array(rows, dtype=np.float64)  # (years, 13): year, Jan .. Dec
    years = np.repeat(table[:, 0].astype(np.int64), 12)
    months = np.tile(np.arange(1, 13), len(table))
    return TimeSeries(_months(years, months), table[:, 1:].ravel().astype(np.float32))
