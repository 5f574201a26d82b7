"""Datasets and the DataLoader: torch.utils.data's names and semantics, on numpy.

A map-style `Dataset` answers `len(ds)` and `ds[i]`. A `DataLoader` cuts it into
mini-batches, shuffling the order each epoch when asked. For datasets that can fetch a
whole batch at once (`TensorDataset`, `MemmapDataset`: they define `get_batch(indices)`),
the loader indexes every array with one fancy index per batch, with no Python loop over
samples; any other dataset is read sample by sample and collated by stacking.

Batches come out as `dlbd_lib.Tensor`s; integer arrays (class labels, token ids) keep
their integer dtype, floating arrays keep theirs.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from dlbd_lib.tensor import Tensor

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "random_split",
    "default_collate",
    "DataLoader",
]


class Dataset:
    """A map-style dataset: subclasses define `__len__` and `__getitem__(i)` -> one sample.

    A subclass may also define `get_batch(indices) -> tuple of arrays` (each with first
    dimension len(indices)); the DataLoader then fetches whole batches through it.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


def _to_array(x: Any) -> np.ndarray:
    """A dlbd Tensor, numpy array, torch tensor or nested list as a numpy array."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor, without importing torch
        return x.detach().cpu().numpy()
    arr = np.asarray(x)
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr


class TensorDataset(Dataset):
    """Dataset wrapping arrays that share their first dimension: sample i is (t[i] for t).

    tensors: dlbd Tensors or numpy arrays, each (N, ...). `ds[i]` returns a tuple of
    Tensors; `get_batch(idx)` returns a tuple of numpy arrays, each (len(idx), ...).
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = tuple(_to_array(t) for t in tensors)
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; each needs a first dimension")
        sizes = [a.shape[0] for a in arrays]
        if len(set(sizes)) != 1:
            raise ValueError(
                "TensorDataset: all tensors must have the same size in the first dimension, "
                f"got sizes {sizes}"
            )
        self.arrays = arrays
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(a)
                             for t, a in zip(tensors, arrays))

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(Tensor(a[index]) for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """All arrays indexed by `indices` (one fancy index each): tuple of (B, ...)."""
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices: np.ndarray) -> Any:
        """Batched fetch through the parent's get_batch (only if the parent has one)."""
        return self.dataset.get_batch(self.indices[indices])


def _can_fetch_batches(dataset: Any) -> bool:
    """True when `dataset.get_batch(indices)` works (for a Subset: when its parent's does)."""
    if isinstance(dataset, Subset):
        return _can_fetch_batches(dataset.dataset)
    return callable(getattr(dataset, "get_batch", None))


def random_split(dataset: Dataset, lengths: Sequence[float], seed: int | None = None,
                 generator: np.random.Generator | None = None) -> list[Subset]:
    """Split `dataset` into non-overlapping random Subsets of the given lengths.

    lengths: integers summing to len(dataset), or fractions summing to 1 (the remainder
    of the rounding goes round-robin to the first parts, as in torch).
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, "
                         f"but the dataset has {n} samples")
    perm = _rng(seed, generator).permutation(n)
    offsets = np.cumsum([0] + [int(k) for k in lengths])
    return [Subset(dataset, perm[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]


def _rng(seed: int | None, generator: np.random.Generator | None) -> Any:
    """The random source: a given Generator, a new seeded one, or np.random (global state)."""
    if seed is not None and generator is not None:
        raise ValueError("give either seed or generator, not both")
    if generator is not None:
        if not isinstance(generator, np.random.Generator):
            raise TypeError("generator must be a numpy.random.Generator, "
                            f"got {type(generator).__name__}")
        return generator
    if seed is not None:
        return np.random.default_rng(seed)
    return np.random  # the module: its global state, so np.random.seed(...) applies


def _collate_leaf(batch: list) -> Any:
    elem = batch[0]
    if isinstance(elem, Tensor):
        return np.stack([b.data for b in batch])
    if isinstance(elem, (np.ndarray, np.generic)):
        return np.stack([np.asarray(b) for b in batch])
    if isinstance(elem, bool):
        return np.array(batch, dtype=np.bool_)
    if isinstance(elem, numbers.Integral):
        return np.array(batch, dtype=np.int64)
    if isinstance(elem, numbers.Real):
        return np.array(batch, dtype=np.float32)  # the course's rule: Python floats -> float32
    if hasattr(elem, "detach") and hasattr(elem, "numpy"):
        return np.stack([_to_array(b) for b in batch])
    return batch  # strings and other objects stay a list


def _collate_arrays(batch: list) -> Any:
    """Stack a list of samples into arrays, following tuples, lists and dicts."""
    elem = batch[0]
    if isinstance(elem, Mapping):
        return {k: _collate_arrays([b[k] for b in batch]) for k in elem}
    if isinstance(elem, (tuple, list)) and not isinstance(elem, str):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise ValueError("default_collate: every sample must have the same number of fields")
        fields = [_collate_arrays(list(f)) for f in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    return _collate_leaf(batch)


def _wrap(x: Any) -> Any:
    """numpy arrays inside a (nested) batch become Tensors."""
    if isinstance(x, np.ndarray):
        return Tensor(x)
    if isinstance(x, dict):
        return {k: _wrap(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list) and x and isinstance(x[0], np.ndarray):
        return [_wrap(v) for v in x]
    return x


def default_collate(batch: list) -> Any:
    """Stack a list of samples into one batch of Tensors, field by field.

    Arrays/Tensors of shape S become (B, *S); Python ints int64; Python floats float32
    (torch gives float64 here; the course keeps float32 everywhere); tuples, lists and
    dicts are collated per field; strings stay a list.
    """
    return _wrap(_collate_arrays(batch))


class DataLoader:
    """Iterate over `dataset` in mini-batches, like torch.utils.data.DataLoader.

    batch_size: samples per batch (None: one sample at a time, not batched).
    shuffle: a new random order every epoch (every `iter(loader)`).
    drop_last: drop the last batch if it is smaller than batch_size.
    seed / generator: the source of the shuffling order; a seed makes the sequence of
    epochs reproducible (epoch 2 differs from epoch 1, but is the same on every run).
    Without either, numpy's global random state is used (so `np.random.seed` applies).
    collate_fn: list of samples -> batch (default: `default_collate`); when given it is
    used for every dataset, disabling the batched fast path.

    Yields: what collate gives, e.g. for a TensorDataset of X (N, D) float32 and
    y (N,) int64: a tuple (X_batch (B, D) float32 Tensor, y_batch (B,) int64 Tensor).
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 generator: np.random.Generator | None = None,
                 collate_fn: Callable[[list], Any] | None = None) -> None:
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, numbers.Integral)
                                       or batch_size <= 0):
            raise ValueError("batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size!r}")
        if batch_size is None and drop_last:
            raise ValueError("batch_size=None disables batching, so drop_last=True makes "
                             "no sense")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError("DataLoader needs a map-style dataset (with __len__ and "
                            f"__getitem__), got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = _rng(seed, generator)

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield _wrap(self.dataset[int(i)])
            return
        bs = self.batch_size
        stop = len(self) * bs
        batched = self.collate_fn is None and _can_fetch_batches(self.dataset)
        for start in range(0, min(stop, len(order)), bs):
            idx = order[start:start + bs]
            if batched:
                yield _wrap(self.dataset.get_batch(idx))
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(i)] for i in idx])
