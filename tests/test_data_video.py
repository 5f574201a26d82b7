"""crossing_digits: clips whose label (which card passes in front) needs the order of frames."""

from __future__ import annotations

import numpy as np
import pytest

from dlbd_lib.data import CrossingClips, crossing_digits, load_digits

# every test here fails if anything opens a connection (fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("no_socket")

CARD = 10


@pytest.fixture(scope="module")
def clips() -> CrossingClips:
    return crossing_digits(60, n_frames=10, size=28, seed=7)


def test_shapes_dtypes_and_range(clips: CrossingClips) -> None:
    n, t = 60, 10
    assert isinstance(clips, CrossingClips)
    assert clips.clips.shape == (n, t, 1, 28, 28) and clips.clips.dtype == np.float32
    assert clips.clips.flags["C_CONTIGUOUS"]
    assert 0.0 <= clips.clips.min() and clips.clips.max() <= 1.0
    assert clips.label.shape == (n,) and clips.label.dtype == np.int64
    assert set(np.unique(clips.label).tolist()) <= {0, 1}
    assert clips.digits.shape == (n, 2) and clips.digits.dtype == np.int64
    assert clips.digits.min() >= 0 and clips.digits.max() <= 9
    assert clips.cards.shape == (n, 2, CARD, CARD) and clips.cards.dtype == np.float32
    assert clips.cols.shape == (n, t, 2) and clips.rows.shape == (n, 2)
    assert clips.speed.shape == (n, 2) and clips.crossing.shape == (n,)
    assert clips.drift.shape == (n,)
    other = crossing_digits(3, n_frames=12, size=32, seed=0)
    assert other.clips.shape == (3, 12, 1, 32, 32)


def test_seeded() -> None:
    a, b = crossing_digits(8, seed=3), crossing_digits(8, seed=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.clips, crossing_digits(8, seed=4).clips)


def test_split_prints_the_digits_of_that_split() -> None:
    data = crossing_digits(20, seed=1, split="test")
    test_images = load_digits("test", flatten=False)[0][:, 0]
    printed = data.cards[:, :, 1:-1, 1:-1]                  # the 8x8 digit inside the border
    grey = data.cards[:, :, :1, :1]                          # the card's own grey level
    ink = (printed - grey) / (1 - grey)                      # back to the digit's pixels
    for image in ink.reshape(-1, 8, 8):
        assert np.abs(test_images - image).max(axis=(1, 2)).min() < 1e-5


def test_labels_are_balanced() -> None:
    label = crossing_digits(4000, n_frames=2, seed=11).label
    assert abs(label.mean() - 0.5) < 0.03                    # 4 standard errors


def test_cards_move_towards_each_other_and_overlap(clips: CrossingClips) -> None:
    cols = clips.cols
    assert np.all(np.diff(cols[:, :, 0], axis=1) >= 0) and np.all(cols[:, -1, 0] > cols[:, 0, 0])
    assert np.all(np.diff(cols[:, :, 1], axis=1) <= 0) and np.all(cols[:, -1, 1] < cols[:, 0, 1])
    # every clip shows the cards at least half overlapping in some frame
    assert np.all(np.abs(cols[:, :, 0] - cols[:, :, 1]).min(axis=1) <= CARD // 2)
    assert np.all(np.abs(clips.rows[:, 0] - clips.rows[:, 1]) <= 4)
    # before the crossing card 0 is on the left, after it on the right
    t = np.arange(cols.shape[1])
    before = t[None, :] < clips.crossing[:, None] - 1
    after = t[None, :] > clips.crossing[:, None] + 1
    assert np.all((cols[:, :, 0] < cols[:, :, 1])[before])
    assert np.all((cols[:, :, 0] > cols[:, :, 1])[after])
    low, high = 0.75, 1.75
    assert np.all((clips.speed >= low) & (clips.speed <= high))


def test_the_front_card_hides_the_back_card(clips: CrossingClips) -> None:
    """What the label says holds in the pixels: the card in front is drawn whole, the card
    behind wherever the front card leaves it visible, dots elsewhere."""
    size = clips.clips.shape[-1]
    for i in range(len(clips.label)):
        front = 0 if clips.label[i] == 1 else 1              # label 1: card 0 in front
        back = 1 - front
        for t in range(clips.clips.shape[1]):
            frame = clips.clips[i, t, 0]
            owner = np.full((size, size), -1)                 # which card each pixel shows
            for which in (back, front):                       # the front card last
                r, c = clips.rows[i, which], clips.cols[i, t, which]
                owner[r:r + CARD, max(c, 0):max(c + CARD, 0)] = which
            for which in (back, front):
                r, c = clips.rows[i, which], clips.cols[i, t, which]
                lo, hi = max(c, 0), min(c + CARD, size)
                if lo < hi:
                    visible = owner[r:r + CARD, lo:hi] == which
                    if which == front:
                        assert visible.all()                  # nothing covers the front card
                    drawn = clips.cards[i, which][:, lo - c:hi - c]
                    np.testing.assert_array_equal(frame[r:r + CARD, lo:hi][visible],
                                                  drawn[visible])
            dots = frame[owner == -1]
            assert np.all((dots == 0) | ((dots >= 0.3) & (dots <= 0.5)))


def test_one_card_is_dark_and_one_light(clips: CrossingClips) -> None:
    grey = np.sort(clips.cards[:, :, 0, 0], axis=1)          # the border pixel: the card's grey
    assert np.all((grey[:, 0] >= 0.1) & (grey[:, 0] <= 0.25))
    assert np.all((grey[:, 1] >= 0.45) & (grey[:, 1] <= 0.6))


def test_the_dots_drift_at_their_velocity() -> None:
    data = crossing_digits(30, n_frames=4, seed=2, dot_density=0.5)
    for i in range(30):
        shift = int(np.floor(data.drift[i] * 1 + 0.5))          # frame 0 -> frame 1
        a, b = data.clips[i, 0, 0], data.clips[i, 1, 0]
        free = np.ones_like(a, dtype=bool)                        # pixels with no card
        for t in (0, 1):
            for which in (0, 1):
                r, c = data.rows[i, which], data.cols[i, t, which]
                free[r:r + CARD, max(c, 0):max(c + CARD, 0)] = False
        cols = np.arange(a.shape[1])
        ok = free & np.roll(free, shift, axis=1) & (cols - shift >= 0) & (cols - shift < a.shape[1])
        np.testing.assert_array_equal(b[ok], np.roll(a, shift, axis=1)[ok])


def test_time_reversal_symmetry() -> None:
    """A clip and its reverse are equally likely, so what ignores the order of the frames
    has the same distribution under both labels."""
    data = crossing_digits(3000, n_frames=10, seed=5)
    t_max = 9
    # the crossing time is symmetric about the middle of the clip, whatever the label
    for y in (0, 1):
        mid = data.crossing[data.label == y] - t_max / 2
        assert abs(mid.mean()) < 4 * mid.std() / np.sqrt(len(mid))
    # an order-free statistic per clip: the sorted per-frame brightness; its mean must
    # not depend on the label (within 4 standard errors), frame by sorted frame
    stat = np.sort(data.clips.sum(axis=(2, 3, 4)), axis=1)
    a, b = stat[data.label == 0], stat[data.label == 1]
    se = np.sqrt(a.var(axis=0) / len(a) + b.var(axis=0) / len(b))
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < 4 * se)
    # the dark card is in front as often under both labels, and drifts go both ways
    dark_front = (data.cards[np.arange(3000), 1 - data.label, 0, 0]
                  < data.cards[np.arange(3000), data.label, 0, 0])
    for y in (0, 1):
        assert abs(dark_front[data.label == y].mean() - 0.5) < 0.06
    assert abs(np.mean(data.drift > 0) - 0.5) < 0.04


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_clips=0), "n_clips must be an int >= 1"),
    (dict(n_clips=2.5), "n_clips must be an int >= 1"),
    (dict(n_frames=1), "n_frames must be an int >= 2"),
    (dict(size=20), "size=20 is too small"),
    (dict(speed_range=(2.0, 1.0)), "speed_range must be a pair"),
    (dict(speed_range=3), "speed_range must be a pair"),
    (dict(dark_card=(0.5, 1.5)), "dark_card must be a pair"),
    (dict(light_card="bright"), "light_card must be a pair"),
    (dict(drift_range=(-1.0, 1.0)), "drift_range must be a pair"),
    (dict(dot_density=1.5), "dot_density must be in"),
    (dict(max_row_offset=-1), "max_row_offset must be an int >= 0"),
    (dict(split="val"), "split must be None, 'train' or 'test'"),
])
def test_bad_arguments_get_clear_errors(kwargs: dict, message: str) -> None:
    args = dict(n_clips=4) | kwargs
    with pytest.raises(ValueError, match=message):
        crossing_digits(**args)
