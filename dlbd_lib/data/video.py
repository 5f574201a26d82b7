"""Video clips whose label needs time: two digit cards cross; which one passes in front?

`crossing_digits` makes clips of two handwritten digits, each printed on an opaque card
(one dark, one light), gliding horizontally towards each other over a drifting field of
dots: one card from left to right, the other from right to left. Where the cards overlap,
the card in front hides the other. The label says whether the **left-to-right** card
passes in front.

Why no single frame and no order-free model can know the label: play a clip backwards and
the left-to-right card becomes the right-to-left one while the same card stays in front,
so the label flips; and the generator draws a clip and its reverse with the same
probability (crossing time symmetric about the clip's middle, both cards drawn the same
way, the dots drifting either way). So the *set* of frames has the same distribution under
both labels: only their order tells. The drifting dots make the picture's overall motion
say nothing about the cards.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlbd_lib.data.datasets import load_digits

__all__ = ["CrossingClips", "crossing_digits"]

CARD = 10  # a card is 10x10 pixels: the 8x8 digit and a 1-pixel border


class CrossingClips(NamedTuple):
    """What `crossing_digits` returns; every array has the clips' first dimension N.

    clips: (N, T, 1, H, W) float32 in [0, 1]; label: (N,) int64, 1 when the card moving
    left to right passes in front. Card 0 moves left to right, card 1 right to left:
    digits (N, 2) int64, the digit printed on each card; cards (N, 2, 10, 10) float32, the
    cards as drawn; cols (N, T, 2) int64, each card's left column per frame (may lie off
    the canvas); rows (N, 2) int64, each card's top row; speed (N, 2) float32, px per frame;
    crossing (N,) float32, the (fractional) frame at which the cards' centres meet;
    drift (N,) float32, the dots' velocity in px per frame (> 0: to the right).
    """

    clips: np.ndarray
    label: np.ndarray
    digits: np.ndarray
    cards: np.ndarray
    cols: np.ndarray
    rows: np.ndarray
    speed: np.ndarray
    crossing: np.ndarray
    drift: np.ndarray


def _range(name: str, value: object, low: float, high: float) -> tuple[float, float]:
    """value as a (lo, hi) pair with low <= lo <= hi <= high, or a ValueError naming it."""
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        lo, hi = np.nan, np.nan
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must be a pair (low, high) with {low} <= low <= high <= "
                         f"{high}, got {value!r}")
    return lo, hi


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def crossing_digits(n_clips: int, n_frames: int = 10, size: int = 28, seed: int = 0,
                    split: str | None = None,
                    speed_range: tuple[float, float] = (0.75, 1.75),
                    dark_card: tuple[float, float] = (0.1, 0.25),
                    light_card: tuple[float, float] = (0.45, 0.6),
                    dot_density: float = 0.2,
                    drift_range: tuple[float, float] = (0.5, 1.5),
                    max_row_offset: int = 4) -> CrossingClips:
    """Clips of two digit cards crossing in opposite directions; label: who passes in front.

    Each clip draws two digits (from `load_digits(split)`) and prints each 8x8 digit on a
    10x10 card: one dark (grey level in `dark_card`), one light (`light_card`), a coin
    deciding which card is the dark one; the ink is brighter (card + (1 - card) * ink).
    The cards glide horizontally at random speeds in `speed_range` (px per frame), card 0
    left to right, card 1 right to left. Their centres meet at a random column near the
    canvas' middle at a random time drawn uniformly from [-a, T - 1 + a], where a is half a
    card divided by the closing speed: so every clip shows the cards at least half
    overlapping, and the crossing time is symmetric about the clip's middle. The top rows
    of the cards share a random base row and differ by at most `max_row_offset`. A fair
    coin picks which card is in front (drawn last, opaque). Behind the cards, random dots
    (a fraction `dot_density` of the pixels, grey levels 0.3-0.5) drift sideways at a speed
    in `drift_range`, left or right at random.

    Returns CrossingClips (clips (N, n_frames, 1, size, size) float32, label (N,) int64, ...;
    see its docstring). Deterministic for a given seed. Made from the scikit-learn digits
    (CC BY 4.0, see load_digits).
    """
    n = _check_int("n_clips", n_clips, 1)
    n_frames = _check_int("n_frames", n_frames, 2)
    max_row_offset = _check_int("max_row_offset", max_row_offset, 0)
    size = _check_int("size", size, 1)
    if size < 2 * CARD + 2 or size < CARD + max_row_offset:
        raise ValueError(f"size={size} is too small: two {CARD}x{CARD} cards (rows up to "
                         f"{max_row_offset} apart) need a canvas of at least "
                         f"{max(2 * CARD + 2, CARD + max_row_offset)} pixels")
    speed_lo, speed_hi = _range("speed_range", speed_range, 1e-3, float(size))
    dark, light = _range("dark_card", dark_card, 0, 1), _range("light_card", light_card, 0, 1)
    drift_lo, drift_hi = _range("drift_range", drift_range, 0, float(size))
    if not 0 <= dot_density <= 1:
        raise ValueError(f"dot_density must be in [0, 1], got {dot_density!r}")
    images, classes = load_digits(split=split, flatten=False)
    rng = np.random.default_rng(seed)

    # what each clip is made of: 2 digits, their cards' grey levels, speeds, the crossing
    pick = rng.integers(0, len(classes), (n, 2))
    first_dark = rng.integers(0, 2, n).astype(bool)
    grey_dark, grey_light = rng.uniform(*dark, n), rng.uniform(*light, n)
    grey = np.stack([np.where(first_dark, grey_dark, grey_light),
                     np.where(first_dark, grey_light, grey_dark)], axis=1)
    speed = rng.uniform(speed_lo, speed_hi, (n, 2))
    a = (CARD / 2) / speed.sum(axis=1)                   # half a card at the closing speed
    crossing = rng.uniform(-a, n_frames - 1 + a)
    centre = rng.uniform(size / 2 - 4, size / 2 + 4, n)  # column where the centres meet
    base = rng.integers(0, size - CARD - max_row_offset + 1, n)
    rows = base[:, None] + rng.integers(0, max_row_offset + 1, (n, 2))
    label = rng.integers(0, 2, n)
    drift = rng.uniform(drift_lo, drift_hi, n) * rng.choice([-1.0, 1.0], n)

    ink = np.zeros((n, 2, CARD, CARD), dtype=np.float32)
    ink[:, :, 1:-1, 1:-1] = images[pick, 0]
    cards = (grey[:, :, None, None] + (1 - grey[:, :, None, None]) * ink).astype(np.float32)

    # each card's left column per frame: card 0's centre is centre + v0 (t - crossing),
    # card 1's is centre - v1 (t - crossing)
    t = np.arange(n_frames)
    dt = t[None, :] - crossing[:, None]                              # (N, T)
    centres = centre[:, None, None] + np.stack([speed[:, :1] * dt, -speed[:, 1:] * dt], -1)
    cols = np.floor(centres - CARD / 2 + 0.5).astype(np.int64)       # (N, T, 2)

    # the dots: a pattern wider than the canvas, seen through a window that slides
    travel = int(np.ceil(drift_hi * (n_frames - 1))) + 1
    width = size + 2 * travel
    dots = ((rng.random((n, size, width)) < dot_density)
            * rng.uniform(0.3, 0.5, (n, size, width))).astype(np.float32)
    left = np.floor(travel - drift[:, None] * t[None, :] + 0.5).astype(np.int64)  # (N, T)
    clips = np.empty((n, n_frames, 1, size, size), dtype=np.float32)
    window = np.arange(size)
    offsets = np.arange(CARD)
    which_front = 1 - label                       # label 1: card 0 (left to right) in front
    every = np.arange(n)
    for frame in range(n_frames):
        columns = np.broadcast_to((left[:, frame, None] + window)[:, None, :], (n, size, size))
        clips[:, frame, 0] = np.take_along_axis(dots, columns, axis=2)
        for which in (label, which_front):                   # back card first, front last
            r = (rows[every, which][:, None] + offsets)[:, :, None]           # (N, 10, 1)
            c = (cols[every, frame, which][:, None] + offsets)[:, None, :]    # (N, 1, 10)
            clip, r, c = np.broadcast_arrays(every[:, None, None], r, c)
            on = (c >= 0) & (c < size)                       # the part on the canvas
            clips[clip[on], frame, 0, r[on], c[on]] = cards[every, which][on]
    return CrossingClips(clips, label.astype(np.int64), classes[pick].astype(np.int64), cards,
                         cols, rows.astype(np.int64), speed.astype(np.float32),
                         crossing.astype(np.float32), drift.astype(np.float32))
