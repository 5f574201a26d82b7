"""The offline datasets: digits, moving digits, CO2, sunspots, English and Chinese text."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import numpy as np
import pytest

from dlbd_lib import data
from dlbd_lib.data import (
    MOVING_DIRECTIONS,
    TEXT_CORPORA,
    load_chinese_text,
    load_co2,
    load_digits,
    load_sunspots,
    load_tang_poems,
    load_text_corpus,
    moving_digits,
)

# every test here fails if anything opens a connection (fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("no_socket")


def test_the_guard_works() -> None:
    with pytest.raises(AssertionError, match="connection"):
        socket.create_connection(("192.0.2.1", 80))


# ---- digits ---------------------------------------------------------------------------
def test_digits_shapes_dtypes_range() -> None:
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))
    images, _ = load_digits(flatten=False)
    assert images.shape == (1797, 1, 8, 8)
    X[0, 0] = 99.0  # a copy: the cache is not changed
    assert load_digits()[0][0, 0] != 99.0


def test_digits_stratified_deterministic_split() -> None:
    Xtr, ytr = load_digits("train")
    Xte, yte = load_digits("test")
    assert (len(Xtr), len(Xte)) == (1347, 450)
    _, y_all = load_digits()
    share = np.bincount(yte) / np.bincount(y_all)
    assert np.all(np.abs(share - 0.25) < 0.02)  # every digit in the test set in proportion
    np.testing.assert_array_equal(load_digits("test")[0], Xte)
    # train and test are disjoint and together give the whole set
    rows = {r.tobytes() for r in Xtr}
    assert sum(r.tobytes() in rows for r in Xte) <= 5  # (a few images are duplicates)
    both = np.concatenate([Xtr, Xte])
    assert np.allclose(np.sort(both.sum(1)), np.sort(load_digits()[0].sum(1)))
    other = load_digits("test", seed=1)[1]
    assert len(other) == 450 and not np.array_equal(load_digits("test", seed=1)[0], Xte)
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")


# ---- moving digits ---------------------------------------------------------------------
def test_moving_digits_shapes_and_labels() -> None:
    clips, digits, directions = moving_digits(64, n_frames=8, size=24, seed=0)
    assert clips.shape == (64, 8, 1, 24, 24) and clips.dtype == np.float32
    assert digits.dtype == np.int64 and directions.dtype == np.int64
    assert clips.min() >= 0 and clips.max() <= 1
    assert set(directions.tolist()) == {0, 1, 2, 3} and digits.max() <= 9
    # the whole digit is on the canvas in every frame: the same ink in each frame
    ink = clips.sum(axis=(2, 3, 4))
    np.testing.assert_allclose(ink, ink[:, :1].repeat(8, axis=1), rtol=1e-5)


def centre_of_mass(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) frames -> (T, 2) ink-weighted (row, col) centres."""
    rows, cols = np.indices(frames.shape[1:])
    ink = frames.sum(axis=(1, 2))
    return np.stack([(frames * rows).sum((1, 2)) / ink, (frames * cols).sum((1, 2)) / ink], 1)


def test_moving_digits_move_in_their_direction() -> None:
    clips, digits, directions = moving_digits(40, n_frames=6, size=28, seed=3, n_directions=8,
                                              speed=2)
    expected = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0),
                "down-right": (1, 1), "down-left": (1, -1), "up-right": (-1, 1),
                "up-left": (-1, -1)}
    images, labels = load_digits(flatten=False)
    for clip, d in zip(clips, directions):
        path = centre_of_mass(clip[:, 0])
        step = np.diff(path, axis=0)
        np.testing.assert_allclose(step, np.tile(np.array(expected[MOVING_DIRECTIONS[d]]) * 2,
                                                 (5, 1)), atol=1e-4)
    # each frame shows, somewhere, an 8x8 digit image whose label is the clip's digit
    for clip, digit in zip(clips[:5], digits[:5]):
        frame = clip[3, 0]
        windows = np.lib.stride_tricks.sliding_window_view(frame, (8, 8)).reshape(-1, 64)
        candidates = images[labels == digit].reshape(-1, 64)
        hits = (np.abs(windows[:, None, :] - candidates[None]).max(-1) == 0)
        assert hits.any(), f"no {digit} found in the frame"


def test_moving_digits_seeded_and_checked() -> None:
    a = moving_digits(10, seed=5)
    b = moving_digits(10, seed=5)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], moving_digits(10, seed=6)[0])
    test_clips = moving_digits(5, split="test")
    assert test_clips[0].shape == (5, 8, 1, 24, 24)
    with pytest.raises(ValueError, match="canvas of at least 22"):
        moving_digits(2, n_frames=8, size=20, speed=2)
    with pytest.raises(ValueError, match="n_directions"):
        moving_digits(2, n_directions=5)


# ---- time series -----------------------------------------------------------------------
def test_co2_monthly_series() -> None:
    dates, values = load_co2()
    assert dates.dtype == np.dtype("datetime64[M]") and values.dtype == np.float32
    assert len(dates) == len(values) == 526
    assert str(dates[0]) == "1958-03" and str(dates[-1]) == "2001-12"
    assert np.all(np.diff(dates).astype(int) == 1)  # every month, no gaps
    assert np.isfinite(values).all() and 310 < values.min() and values.max() < 380
    assert values[-12:].mean() - values[:12].mean() > 50  # the famous rise
    assert load_co2().values[0] == pytest.approx(316.1)


def test_sunspots_monthly_and_yearly() -> None:
    dates, values = load_sunspots()
    assert len(values) == 3120 and dates.dtype == np.dtype("datetime64[M]")
    assert str(dates[0]) == "1749-01" and str(dates[-1]) == "2008-12"
    assert values.dtype == np.float32 and values.min() >= 0 and values[0] == pytest.approx(58.0)
    years, yearly = load_sunspots(monthly=False)
    assert len(yearly) == 309 and str(years[0]) == "1700" and str(years[-1]) == "2008"
    assert yearly[:3].tolist() == [5.0, 11.0, 16.0]
    # an 11-year cycle: the spectrum of the yearly series peaks at a 9-13 year period
    power = np.abs(np.fft.rfft(yearly - yearly.mean())) ** 2
    period = len(yearly) / (1 + np.argmax(power[1:]))
    assert 9 < period < 13


# ---- text ------------------------------------------------------------------------------
def test_zen_is_decoded_and_not_printed(capsys: pytest.CaptureFixture) -> None:
    zen = load_text_corpus("zen")
    assert zen.startswith("The Zen of Python, by Tim Peters")
    assert "Beautiful is better than ugly." in zen
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", ["python-help", "stdlib-docs"])
def test_large_english_corpora(name: str) -> None:
    text = load_text_corpus(name)
    assert len(text) >= 100_000
    assert text == load_text_corpus(name)  # deterministic
    words = text.split()
    assert sum(w.lower() in {"the", "a", "of", "is"} for w in words) / len(words) > 0.05
    assert load_text_corpus(name, max_chars=500) == text[:500]


def test_unknown_corpus_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="zen"):
        load_text_corpus("shakespeare")
    assert set(TEXT_CORPORA) == {"zen", "python-help", "stdlib-docs"}


def test_chinese_text() -> None:
    text = load_chinese_text()
    assert len(text) > 3000 and len(set(text)) > 500
    assert text.startswith("《道德经》")
    assert "道可道，非常道" in text and "床前明月光" in text
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert cjk / len(text) > 0.7
    assert 2600 < cjk < 2700                         # the docstring's "about 2,650 Han characters"


def test_chinese_classics_follow_the_wang_bi_text() -> None:
    """The five places issue #18 found where the Daodejing strayed from Wang Bi's text."""
    text = load_chinese_text()
    chapters = dict(re.findall(r"(第[一二三四五六七八九十]+章)\n(.+)", text))
    assert "正善治" in chapters["第八章"] and "政善治" not in text
    assert chapters["第九章"].endswith("功遂身退，天之道。")
    assert "能婴儿乎" in chapters["第十章"] and "爱民治国，能无知乎" in chapters["第十章"]
    assert "明白四达，能无为乎" in chapters["第十章"]
    assert chapters["第十七章"].startswith("太上，下知有之")
    assert chapters["第十九章"].endswith("少私寡欲。") and "绝学无忧" not in text
    licence = (Path(data.__file__).parent / "files" / "LICENSE.txt").read_text(encoding="utf-8")
    assert "Wang Bi" in licence


def test_tang_poems_are_five_character_verse_in_simplified_characters() -> None:
    poems = load_tang_poems()
    assert len(poems) == 4000 and len({p.text for p in poems}) == 4000
    line = re.compile(r"^([\u4e00-\u9fff]{5}，[\u4e00-\u9fff]{5}。){2,4}$")
    assert all(line.match(p.text) and len(p.text) in (24, 48) for p in poems)
    assert all(p.author and p.title for p in poems)
    text = "".join(p.text for p in poems)
    for traditional in "詩國來風說時":                  # OpenCC t2s turned these into 诗国来风说时
        assert traditional not in text
    assert {"杜甫", "李白", "白居易"} <= {p.author for p in poems}
    files = Path(data.__file__).parent / "files"
    header = (files / "tang_poems.txt").read_text(encoding="utf-8").split("\n", 6)[:6]
    assert all(h.startswith("# ") for h in header) and "chinese-poetry" in "".join(header)
    licence = (files / "LICENSE.txt").read_text(encoding="utf-8")
    assert "tang_poems.txt" in licence and "MIT License" in licence and "OpenCC" in licence


# ---- documentation ---------------------------------------------------------------------
@pytest.mark.parametrize("fn", [load_digits, moving_digits, load_co2, load_sunspots,
                                load_text_corpus, load_chinese_text, load_tang_poems])
def test_docstrings_give_source_licence_and_types(fn: object) -> None:
    doc = fn.__doc__ or ""
    assert "Source" in doc and ("Licence" in doc or "licence" in doc), fn.__name__
    assert "float32" in doc or "str" in doc, fn.__name__


def test_every_public_name_is_documented() -> None:
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_a_missing_package_gets_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from dlbd_lib.data import datasets

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="statsmodels is not installed"):
        datasets.load_co2()
