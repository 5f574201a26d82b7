"""An interpolated Kneser-Ney n-gram language model over integer token ids (numpy only).

The strongest simple baseline for a character-level language model: counts of the
previous n - 1 tokens, discounted, and mixed with lower orders. Counting and scoring are
vectorised: an n-gram is one int64 code (base V), counted with np.unique and looked up
with np.searchsorted, so half a million characters count in about a second.

    lm = KneserNeyLM(order=5, vocab_size=V).fit(train_ids)
    lm.cross_entropy(val_ids, context=train_ids[-4:])   # nats per token
    lm.next_distribution(ids[-4:])                      # (V,) probabilities, sum to 1

Interpolated Kneser-Ney (Chen & Goodman 1998), one discount D per order:
P_k(w | h) = max(c_k(hw) - D_k, 0) / c_k(h.) + D_k N1+(h.) / c_k(h.) * P_{k-1}(w | h'),
where h' drops the oldest token of h; c_k are raw counts at the highest order and
continuation counts N1+(. hw) (in how many distinct contexts hw appears) below; an unseen
context h falls back to P_{k-1} whole; P_0 is uniform over the vocabulary.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KneserNeyLM"]


def _codes(ids: np.ndarray, k: int, base: int) -> np.ndarray:
    """Codes of every k-gram of ids (len(ids) - k + 1 of them): sum ids[i+j] * base^(k-1-j)."""
    n = len(ids) - k + 1
    code = np.zeros(max(n, 0), dtype=np.int64)
    for j in range(k):  # k <= order: a loop over the n-gram's positions, not the text
        code = code * base + ids[j:j + n]
    return code


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == query (keys sorted), 0 where the query is absent."""
    if len(keys) == 0:
        return np.zeros(query.shape, dtype=values.dtype)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[pos] == query, values[pos], 0)


class KneserNeyLM:
    """Interpolated Kneser-Ney language model of the given order over ids 0..vocab_size-1."""

    def __init__(self, order: int, vocab_size: int, discount: float | None = None) -> None:
        if order < 1:
            raise ValueError(f"KneserNeyLM: order must be >= 1, got {order}")
        if vocab_size < 1 or float(vocab_size) ** order >= 2.0 ** 62:
            raise ValueError(f"KneserNeyLM: vocab_size={vocab_size} ** order={order} n-gram "
                             "codes do not fit in int64")
        self.order, self.vocab_size, self.fixed_discount = order, vocab_size, discount
        self.tables: list[dict] = []

    def fit(self, ids: np.ndarray) -> KneserNeyLM:
        """Count every n-gram of ids (1-D integer array) up to the model's order."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or (ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size)):
            raise ValueError(f"KneserNeyLM.fit: expects a 1-D array of ids in "
                             f"[0, {self.vocab_size}), got shape {ids.shape}")
        V, n = self.vocab_size, self.order
        self.tables = []
        uniq_above = None
        for k in range(n, 0, -1):  # from the highest order down: continuation counts need k+1
            uniq, raw = np.unique(_codes(ids, k, V), return_counts=True)
            if k == n:
                codes, counts = uniq, raw
            else:   # N1+(. w_1..w_k): distinct left extensions of each k-gram
                codes, counts = np.unique(uniq_above % V ** k, return_counts=True)
            uniq_above = uniq
            if self.fixed_discount is not None:
                d = self.fixed_discount
            else:   # Ney's estimate D = n1 / (n1 + 2 n2), n_r = number of k-grams seen r times
                n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
                d = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
            ctx, inv = np.unique(codes // V, return_inverse=True)
            total = np.bincount(inv, weights=counts).astype(np.float64)
            types = np.bincount(inv).astype(np.float64)
            self.tables.insert(0, {"codes": codes, "counts": counts.astype(np.float64),
                                   "ctx": ctx, "total": total, "types": types, "D": float(d)})
        return self

    def _check_fitted(self) -> None:
        if not self.tables:
            raise RuntimeError("KneserNeyLM: call fit(ids) first")

    def prob(self, history: np.ndarray, words: np.ndarray) -> np.ndarray:
        """P(words[i] | history[i]).   history: (M, order - 1) ids, -1 = no token (too early
        in the text), the most recent last; words: (M,) -> (M,) probabilities."""
        self._check_fitted()
        V, n = self.vocab_size, self.order
        words = np.asarray(words, dtype=np.int64)
        history = np.asarray(history, dtype=np.int64).reshape(len(words), n - 1)
        p = np.full(len(words), 1.0 / V)
        for k in range(1, n + 1):
            t = self.tables[k - 1]
            h = history[:, n - k:] if k > 1 else history[:, :0]
            known = np.all(h >= 0, axis=1)   # enough history for this order
            ctx = np.zeros(len(words), dtype=np.int64)
            for j in range(k - 1):
                ctx = ctx * V + np.maximum(h[:, j], 0)
            total = _lookup(t["ctx"], t["total"], ctx)
            types = _lookup(t["ctx"], t["types"], ctx)
            c = _lookup(t["codes"], t["counts"], ctx * V + words)
            seen = known & (total > 0)
            safe = np.where(total > 0, total, 1.0)
            mixed = (np.maximum(c - t["D"], 0) + t["D"] * types * p) / safe
            p = np.where(seen, mixed, p)
        return p

    def _history(self, ids: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        pad = np.full(self.order - 1, -1, dtype=np.int64)
        if context is not None and len(context):
            ctx = np.asarray(context, dtype=np.int64)[-(self.order - 1):] if self.order > 1 \
                else np.zeros(0, np.int64)
            pad[len(pad) - len(ctx):] = ctx
        full = np.concatenate([pad, np.asarray(ids, dtype=np.int64)])
        m = self.order - 1
        return np.stack([full[j:j + len(ids)] for j in range(m)], axis=1) if m else \
            np.zeros((len(ids), 0), np.int64)

    def log_probs(self, ids: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """ln P of every token of ids given the tokens before it (and context before those)."""
        ids = np.asarray(ids, dtype=np.int64)
        return np.log(self.prob(self._history(ids, context), ids))

    def cross_entropy(self, ids: np.ndarray, context: np.ndarray | None = None) -> float:
        """Mean -ln P per token of ids (nats), as a language model's held-out loss."""
        return float(-np.mean(self.log_probs(ids, context)))

    def next_distribution(self, context: np.ndarray) -> np.ndarray:
        """(vocab_size,) probabilities of the next token after the ids in context."""
        V = self.vocab_size
        hist = self._history(np.zeros(1, np.int64), context)
        return self.prob(np.repeat(hist, V, axis=0), np.arange(V))

    def sample(self, context: np.ndarray, num_tokens: int, rng: np.random.Generator,
               temperature: float = 1.0) -> np.ndarray:
        """num_tokens ids drawn one by one after context, p ** (1 / temperature) renormalised."""
        out = list(np.asarray(context, dtype=np.int64))
        for _ in range(num_tokens):
            p = self.next_distribution(np.array(out[-(self.order - 1):] if self.order > 1
                                                else [], dtype=np.int64))
            p = p ** (1.0 / temperature)
            out.append(int(rng.choice(self.vocab_size, p=p / p.sum())))
        return np.array(out[len(out) - num_tokens:], dtype=np.int64)
