"""The Kneser-Ney n-gram baseline: a distribution (sums to 1), equal to a brute-force count
with Python dicts on a tiny text, and better than lower orders on real text."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from dlbd_lib.data import load_text_corpus
from dlbd_lib.ngram import KneserNeyLM

TEXT = "the cat sat on the mat. the cat ate the rat; a rat sat."
CHARS = sorted(set(TEXT))
IDS = np.array([CHARS.index(c) for c in TEXT])
V = len(CHARS) + 2                        # two ids never seen in training


def brute_force_kn(tokens, order, V, history, w):
    """Interpolated Kneser-Ney by the textbook formula, with dictionaries and recursion."""
    grams = [Counter(tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1))
             for k in range(order + 1)]

    def counts(k):
        if k == order:
            return grams[k]
        left = Counter(g[1:] for g in grams[k + 1])          # N1+(. g)
        return left

    def discount(c):
        n1 = sum(1 for v in c.values() if v == 1)
        n2 = sum(1 for v in c.values() if v == 2)
        return n1 / (n1 + 2 * n2)

    def p(k, h):
        if k == 0:
            return 1.0 / V
        c = counts(k)
        ctx = h[len(h) - (k - 1):] if k > 1 else ()
        if len(ctx) < k - 1:
            return p(k - 1, h)
        by_ctx = defaultdict(list)
        for g, n in c.items():
            by_ctx[g[:-1]].append(n)
        if ctx not in by_ctx:
            return p(k - 1, h)
        total, types, d = sum(by_ctx[ctx]), len(by_ctx[ctx]), discount(c)
        return (max(c.get(ctx + (w,), 0) - d, 0) + d * types * p(k - 1, h)) / total

    return p(order, tuple(history))


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kneser_ney_matches_a_brute_force_count(order):
    lm = KneserNeyLM(order, V).fit(IDS)
    rng = np.random.default_rng(order)
    for _ in range(25):
        start = int(rng.integers(0, len(IDS) - 6))
        hist = list(IDS[start:start + order - 1]) if order > 1 else []
        w = int(rng.integers(0, V)) if rng.random() < 0.4 else int(IDS[start + order - 1])
        got = lm.prob(np.array([hist], dtype=np.int64).reshape(1, order - 1), np.array([w]))[0]
        assert got == pytest.approx(brute_force_kn(list(IDS), order, V, hist, w), rel=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_kneser_ney_next_distribution_sums_to_one(order):
    lm = KneserNeyLM(order, V).fit(IDS)
    for context in ([], IDS[:1], IDS[:4], IDS[10:14], np.array([V - 1, V - 2, 0, 1])):
        p = lm.next_distribution(np.asarray(context, dtype=np.int64))
        assert p.shape == (V,) and np.all(p > 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_cross_entropy_uses_context_and_short_histories():
    lm = KneserNeyLM(3, V).fit(IDS)
    lp = lm.log_probs(IDS[5:12], context=IDS[:5])
    hist = np.stack([IDS[3:10], IDS[4:11]], axis=1)
    np.testing.assert_allclose(lp, np.log(lm.prob(hist, IDS[5:12])))
    first = lm.log_probs(IDS[:2])                 # no history yet: -1 = "no token"
    np.testing.assert_allclose(first, np.log(lm.prob(np.array([[-1, -1], [-1, IDS[0]]]),
                                                     IDS[:2])))
    assert first[0] == pytest.approx(np.log(brute_force_kn(list(IDS), 3, V, [], IDS[0])))
    assert lm.cross_entropy(IDS[5:12], IDS[:5]) == pytest.approx(-lp.mean())


def test_higher_orders_predict_real_text_better_up_to_a_point():
    text = load_text_corpus("python-help", max_chars=60_000)
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    train, val = ids[:54_000], ids[54_000:]
    losses = [KneserNeyLM(n, len(chars)).fit(train).cross_entropy(val, train[-4:])
              for n in range(1, 6)]
    assert losses[0] > 2.8 and losses[2] < losses[1] < losses[0]
    assert min(losses) < 2.0


def test_sampling_is_seeded_and_errors_are_clear():
    lm = KneserNeyLM(3, V).fit(IDS)
    a = lm.sample(IDS[:2], 20, np.random.default_rng(0))
    b = lm.sample(IDS[:2], 20, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20,) and a.max() < V
    with pytest.raises(ValueError, match="ids in"):
        KneserNeyLM(2, 3).fit(np.array([0, 5]))
    with pytest.raises(RuntimeError, match="fit"):
        KneserNeyLM(2, 3).cross_entropy(np.array([0, 1]))
    with pytest.raises(ValueError, match="int64"):
        KneserNeyLM(8, 1000)
