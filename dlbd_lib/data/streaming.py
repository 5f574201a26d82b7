"""Mini-batches streamed from memory-mapped `.npy` files: data bigger than RAM.

`np.load(path, mmap_mode="r")` maps the file without reading it; slicing a block of rows
reads just those pages from disk. To shuffle without random access over the whole file
(slow on disk, and it would pull everything through the page cache), `stream_batches`
reads *contiguous blocks* of rows, visits the blocks in a random order, and shuffles the
rows inside each block: the usual "block shuffle" of large-scale training. Only one
block (plus one partial batch) is ever held in memory.

`write_memmap_dataset` writes such a file chunk by chunk from a seeded generator, for a
linear or logistic regression whose true weights it returns, so training can be checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlbd_lib.data.loader import Dataset
from dlbd_lib.data.synthetic import regression_stream
from dlbd_lib.tensor import Tensor

__all__ = ["MemmapInfo", "write_memmap_dataset", "MemmapDataset", "stream_batches"]

PathLike = str | os.PathLike
BLOCK_BYTES = 8 * 2**20  # default block: about 8 MiB of features


@dataclass(frozen=True)
class MemmapInfo:
    """What `write_memmap_dataset` wrote: file paths and the ground truth.

    weight: (n_features,) float32, bias: float — y = X @ weight + bias (+ noise) for
    "linear", P(y = 1) = sigmoid(X @ weight + bias) for "logistic".
    """

    path_X: Path
    path_y: Path
    weight: np.ndarray
    bias: float
    n_rows: int
    n_features: int
    task: str
    noise: float


def write_memmap_dataset(path: PathLike, n_rows: int, n_features: int,
                         chunk_rows: int = 65_536, seed: int = 0, task: str = "linear",
                         noise: float = 0.1) -> MemmapInfo:
    """Write a synthetic regression set to `path/X.npy` and `path/y.npy`, chunk by chunk.

    X: (n_rows, n_features) float32, standard normal. y: (n_rows,) float32; for
    task="linear" y = X @ w + b + noise * N(0, 1); for task="logistic" y in {0., 1.}
    drawn with P(y=1) = sigmoid(X @ w + b) (float32, ready for a BCE-with-logits loss).
    Only `chunk_rows` rows are in memory at a time; the data do not depend on chunk_rows.
    Returns a MemmapInfo with the paths and the true weight (n_features,) and bias.
    """
    for name, value in (("n_rows", n_rows), ("n_features", n_features),
                        ("chunk_rows", chunk_rows)):
        if int(value) <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    weight, bias, draw = regression_stream(seed, n_features, task, noise)

    path_X, path_y = directory / "X.npy", directory / "y.npy"
    X_out = np.lib.format.open_memmap(path_X, mode="w+", dtype=np.float32,
                                      shape=(n_rows, n_features))
    y_out = np.lib.format.open_memmap(path_y, mode="w+", dtype=np.float32, shape=(n_rows,))
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        X, _, y = draw(stop - start)
        X_out[start:stop] = X
        y_out[start:stop] = y
    X_out.flush()
    y_out.flush()
    del X_out, y_out  # close the maps
    return MemmapInfo(path_X, path_y, weight, bias, int(n_rows), int(n_features), task,
                      float(noise))


def _resolve(path_X: PathLike, path_y: PathLike | None) -> tuple[Path, Path | None]:
    """A directory means its X.npy and y.npy; a missing file is a clear error."""
    px = Path(path_X)
    if px.is_dir():
        px, py = px / "X.npy", (px / "y.npy" if path_y is None else Path(path_y))
    else:
        py = None if path_y is None else Path(path_y)
    for p in (px, py):
        if p is not None and not p.is_file():
            raise FileNotFoundError(f"memmap dataset: no such file: {p}")
    return px, py


def _open(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except ValueError as err:
        raise ValueError(f"memmap dataset: {path} is not a readable .npy file: {err}") from None


def rebatch(blocks: Iterable[tuple[np.ndarray, ...]], batch_size: int,
            drop_last: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
    """Cut a stream of blocks (tuples of arrays sharing dim 0) into batches of batch_size.

    Rows left over at the end of a block are carried into the next one, so every batch
    but the last has exactly batch_size rows, and every row appears exactly once.
    """
    carry: tuple[np.ndarray, ...] | None = None
    for block in blocks:
        if carry is not None:
            block = tuple(np.concatenate([c, b]) for c, b in zip(carry, block))
        n = len(block[0])
        full = n - n % batch_size
        for start in range(0, full, batch_size):
            yield tuple(a[start:start + batch_size] for a in block)
        carry = tuple(a[full:] for a in block) if full < n else None
    if carry is not None and not drop_last:
        yield carry


class MemmapDataset(Dataset):
    """A dataset over memory-mapped `.npy` files: X (N, ...) and optionally y (N, ...).

    path_X: the features' .npy file, or a directory holding X.npy and y.npy.
    Nothing is read until asked: `ds[i]` reads one row, `get_batch(idx)` the rows at idx
    (so `DataLoader(ds, ...)` works, but with shuffle=True it reads scattered rows), and
    `batches(...)` streams contiguous blocks, the fast way through a file on disk.
    """

    def __init__(self, path_X: PathLike, path_y: PathLike | None = None,
                 seed: int | None = None) -> None:
        self.path_X, self.path_y = _resolve(path_X, path_y)
        self.X = _open(self.path_X)
        self.y = None if self.path_y is None else _open(self.path_y)
        if self.X.ndim == 0:
            raise ValueError(f"memmap dataset: {self.path_X} holds a 0-d array")
        if self.y is not None and (self.y.ndim == 0 or len(self.y) != len(self.X)):
            raise ValueError(
                f"memmap dataset: {self.path_X} has {len(self.X)} rows but {self.path_y} "
                f"has shape {self.y.shape}; they must have the same number of rows")
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index: int) -> Any:
        x = Tensor(np.array(self.X[index]))
        return x if self.y is None else (x, Tensor(np.array(self.y[index])))

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Rows at `indices` read from disk: (X (B, ...),) or (X, y)."""
        arrays = (self.X,) if self.y is None else (self.X, self.y)
        return tuple(np.asarray(a[indices]) for a in arrays)

    def default_block_rows(self, batch_size: int) -> int:
        """About BLOCK_BYTES of rows, a whole number of batches (at least one)."""
        row_bytes = max(1, self.X[:1].nbytes)
        return max(1, BLOCK_BYTES // row_bytes // batch_size) * batch_size

    def blocks(self, block_rows: int, shuffle_chunks: bool = True
               ) -> Iterator[tuple[np.ndarray, ...]]:
        """Contiguous blocks of block_rows rows read into memory, in a random order and
        shuffled within when shuffle_chunks; tuples (X_block, y_block) or (X_block,)."""
        arrays = (self.X,) if self.y is None else (self.X, self.y)
        starts = np.arange(0, len(self.X), block_rows)
        if shuffle_chunks:
            starts = self.rng.permutation(starts)
        for start in starts:
            block = tuple(np.array(a[start:start + block_rows]) for a in arrays)  # one read
            if shuffle_chunks:
                perm = self.rng.permutation(len(block[0]))
                block = tuple(b[perm] for b in block)
            yield block

    def batches(self, batch_size: int, shuffle_chunks: bool = True,
                block_rows: int | None = None, drop_last: bool = False,
                as_tensor: bool = False) -> Iterator[Any]:
        """One epoch of mini-batches read block by block (see `stream_batches`)."""
        _check_batch_size(batch_size)
        if block_rows is None:
            block_rows = self.default_block_rows(batch_size)
        elif block_rows <= 0:
            raise ValueError(f"block_rows must be a positive integer, got {block_rows}")
        for batch in rebatch(self.blocks(block_rows, shuffle_chunks), batch_size, drop_last):
            if as_tensor:
                batch = tuple(Tensor(b) for b in batch)
            yield batch if len(batch) > 1 else batch[0]


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError("batch_size should be a positive integer value, "
                         f"but got batch_size={batch_size!r}")


def stream_batches(path_X: PathLike, path_y: PathLike | None = None, batch_size: int = 256,
                   shuffle_chunks: bool = True, seed: int | None = None,
                   block_rows: int | None = None, drop_last: bool = False,
                   as_tensor: bool = False) -> Iterator[Any]:
    """One epoch of mini-batches from memory-mapped .npy files, read in contiguous blocks.

    path_X: X.npy (N, D) or a directory with X.npy and y.npy; path_y: y.npy (N,) or None.
    shuffle_chunks: visit the blocks in a random order and shuffle rows within each block
    (never the whole file); seed makes it reproducible (pass seed + epoch for a new order
    each epoch). block_rows: rows read at once (default about 8 MiB, whole batches).
    Yields numpy arrays (X_batch (B, D), y_batch (B,)) — or X_batch alone without y —
    with B = batch_size except perhaps the last; as_tensor=True yields dlbd Tensors.
    Every row appears exactly once per epoch. Bad paths or sizes raise here, not at the
    first batch.
    """
    _check_batch_size(batch_size)
    ds = MemmapDataset(path_X, path_y, seed=seed)
    return ds.batches(batch_size, shuffle_chunks=shuffle_chunks, block_rows=block_rows,
                          drop_last=drop_last, as_tensor=as_tensor)
