"""Mini-batches from a directory of Parquet partitions, for both engines.

A big table is usually stored as many Parquet files ("partitions"), as Spark and Dask
write it. `PartitionedDataset` reads one partition at a time (so memory holds one
partition, not the table), optionally visits the partitions in a random order and
shuffles rows within each, and cuts the rows into batches of exactly `batch_size`
(rows left over at the end of a partition carry into the next).

It yields numpy arrays by default — (X (B, F) float32, y (B,)) — which both engines take
(`dlbd_lib.Tensor(X)`, `torch.from_numpy(X)`); `as_tensor=True` yields dlbd Tensors, and
`.torch()` wraps it as a `torch.utils.data.IterableDataset` that shards the partitions
over DataLoader workers. pyarrow (and torch) are imported only when needed.

A partition that is not valid Parquet, lacks a column, or has gone missing raises an
error naming the file (`on_error="raise"`, the default); `on_error="skip"` goes on with
the other partitions and records each skipped file, with the reason, in `skipped_files`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlbd_lib.data.streaming import rebatch
from dlbd_lib.data.synthetic import regression_stream
from dlbd_lib.tensor import Tensor

__all__ = ["PartitionError", "PartitionedDataset", "PartitionedInfo",
           "write_partitioned_parquet"]

PathLike = str | os.PathLike


class PartitionError(ValueError):
    """A partition file that cannot be read as the expected Parquet table."""


def _list_partitions(source: PathLike | Sequence[PathLike]) -> list[Path]:
    """The .parquet files under a directory (sorted; hidden and _metadata files left out),
    or the given list of files as it is."""
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if root.is_file():
            return [root]
        if not root.is_dir():
            raise FileNotFoundError(f"partitioned dataset: no such file or directory: {root}")
        files = sorted(p for p in root.rglob("*.parquet")
                       if not any(part.startswith(("_", ".")) for part in
                                  p.relative_to(root).parts))
        if not files:
            raise FileNotFoundError(f"partitioned dataset: no .parquet files in {root}")
        return files
    files = [Path(p) for p in source]
    if not files:
        raise ValueError("partitioned dataset: the list of partition files is empty")
    return files


class PartitionedDataset:
    """Iterate over Parquet partitions in mini-batches of (X, y) numpy arrays.

    source: a directory (every *.parquet below it) or a list of files.
    columns: feature columns (default: every column but `label`, from the first file).
    label: the target column (None: yield X alone).
    shuffle_partitions: visit partitions in a random order each epoch; shuffle_rows:
    also shuffle rows within each partition. seed: makes every epoch's order reproducible
    (epoch e uses seed and e, so epochs differ; `set_epoch` sets e, as with torch's
    DistributedSampler). on_error: "raise" (default) or "skip" a bad or missing file.
    Yields (X (B, F) dtype, y (B,)) numpy arrays — y keeps its stored dtype (int64 class
    labels stay int64), except that float64 labels become `dtype` — or dlbd Tensors
    with as_tensor=True. Every row is seen exactly once per epoch.
    """

    def __init__(self, source: PathLike | Sequence[PathLike],
                 columns: Sequence[str] | None = None, label: str | None = "y",
                 batch_size: int = 1024, shuffle_partitions: bool = False,
                 shuffle_rows: bool = False, seed: int | None = None,
                 drop_last: bool = False, on_error: str = "raise",
                 as_tensor: bool = False, dtype: Any = np.float32) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.files = _list_partitions(source)
        if on_error == "raise":
            missing = [p for p in self.files if not p.is_file()]
            if missing:
                raise FileNotFoundError(f"partitioned dataset: partition file not found: "
                                        f"{missing[0]}" + (f" (and {len(missing) - 1} more)"
                                                           if len(missing) > 1 else ""))
        self.columns = None if columns is None else list(columns)
        self.label = label
        self.batch_size = int(batch_size)
        self.shuffle_partitions = shuffle_partitions
        self.shuffle_rows = shuffle_rows
        self.seed = seed
        self.drop_last = drop_last
        self.on_error = on_error
        self.as_tensor = as_tensor
        self.dtype = np.dtype(dtype)
        self.epoch = 0
        self.skipped_files: dict[Path, str] = {}
        self._entropy = np.random.SeedSequence().entropy if seed is None else seed
        if self.columns is None:
            self._infer_columns()

    def _infer_columns(self) -> None:
        """Feature columns = every column but the label, from the first readable file."""
        for path in self.files:
            try:
                names = self._schema_names(path)
            except (FileNotFoundError, PartitionError):
                if self.on_error == "raise":
                    raise
                continue  # recorded in skipped_files when the epoch reaches it
            self.columns = [c for c in names if c != self.label]
            return

    # ---- reading one partition --------------------------------------------------------
    def _fail(self, path: Path, err: Exception) -> None:
        """Raise (or, with on_error='skip', record) a partition that cannot be read."""
        if self.on_error == "skip":
            self.skipped_files[path] = f"{type(err).__name__}: {err}"
            return
        raise err

    @staticmethod
    def _schema_names(path: Path) -> list[str]:
        """The column names in a partition's footer; a clear error naming a bad file."""
        import pyarrow as pa  # lazily: only this loader needs pyarrow
        import pyarrow.parquet as pq

        if not path.is_file():
            raise FileNotFoundError(f"partitioned dataset: partition file not found: {path}")
        try:
            return pq.read_schema(path).names
        except (pa.ArrowException, OSError) as err:
            raise PartitionError(f"partition {path} could not be read as Parquet: "
                                 f"{err}") from None

    def read_partition(self, path: PathLike) -> tuple[np.ndarray, ...] | None:
        """One whole partition as (X (n, F), y (n,)) or (X,); None if skipped."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        try:
            names = self._schema_names(path)
            if self.columns is None:  # every file was unreadable when the dataset was made
                self.columns = [c for c in names if c != self.label]
            wanted = self.columns + ([self.label] if self.label is not None else [])
            absent = [c for c in wanted if c not in names]
            if absent:
                raise PartitionError(f"partition {path} has no column(s) {absent}; "
                                     f"its columns are {names}")
            try:
                table = pq.read_table(path, columns=wanted)
            except (pa.ArrowException, OSError) as err:
                raise PartitionError(f"partition {path} could not be read as Parquet: "
                                     f"{err}") from None
        except (FileNotFoundError, PartitionError) as err:
            self._fail(path, err)
            return None
        X = np.empty((table.num_rows, len(self.columns)), dtype=self.dtype)
        for j, name in enumerate(self.columns):
            try:
                X[:, j] = table.column(name).to_numpy()
            except (ValueError, TypeError) as err:
                raise PartitionError(f"partition {path}: column {name!r} "
                                     f"({table.schema.field(name).type}) is not numeric: "
                                     f"{err}") from None
        if self.label is None:
            return (X,)
        y = table.column(self.label).to_numpy()
        if y.dtype.kind == "f":
            y = y.astype(self.dtype)
        elif not y.flags.writeable:  # a zero-copy view of Arrow's read-only buffer
            y = y.copy()
        return X, y

    @property
    def num_rows(self) -> int:
        """Total rows over the readable partitions (from the Parquet footers only)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        total = 0
        for path in self.files:
            try:
                self._schema_names(path)
                total += pq.ParquetFile(path).metadata.num_rows
            except (FileNotFoundError, PartitionError) as err:
                self._fail(path, err)
            except (pa.ArrowException, OSError) as err:
                self._fail(path, PartitionError(
                    f"partition {path} could not be read as Parquet: {err}"))
        return total

    # ---- iteration ---------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s random order next (needed with torch workers, see torch())."""
        self.epoch = int(epoch)

    def partition_order(self, epoch: int) -> list[int]:
        """Indices into `files` in the order epoch `epoch` visits them."""
        n = len(self.files)
        if not self.shuffle_partitions:
            return list(range(n))
        return np.random.default_rng([self._entropy, epoch]).permutation(n).tolist()

    def iter_shard(self, shard: int = 0, num_shards: int = 1) -> Iterator[Any]:
        """One epoch over the partitions of shard `shard` of `num_shards` (every
        num_shards-th partition of this epoch's order), then advance the epoch."""
        if not 0 <= shard < num_shards:
            raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
        epoch = self.epoch
        self.epoch += 1
        mine = self.partition_order(epoch)[shard::num_shards]

        def blocks() -> Iterator[tuple[np.ndarray, ...]]:
            for i in mine:
                part = self.read_partition(self.files[i])
                if part is None:
                    continue
                if self.shuffle_rows:
                    rng = np.random.default_rng([self._entropy, epoch, i])
                    perm = rng.permutation(len(part[0]))
                    part = tuple(a[perm] for a in part)
                yield part

        for batch in rebatch(blocks(), self.batch_size, self.drop_last):
            if self.as_tensor:
                batch = tuple(Tensor(b) for b in batch)
            yield batch if len(batch) > 1 else batch[0]

    def __iter__(self) -> Iterator[Any]:
        return self.iter_shard(0, 1)

    def torch(self, rank: int = 0, world_size: int = 1) -> Any:
        """This dataset as a torch IterableDataset yielding torch tensor batches.

        Use it as `torch.utils.data.DataLoader(ds.torch(), batch_size=None,
        num_workers=k)`: batches are already made, and the partitions are split over the
        k workers (and over `world_size` processes for data-parallel training), so each
        row is read once per epoch. With shuffle_partitions and workers, call
        `set_epoch(epoch)` on the returned object before each epoch.
        """
        from dlbd_lib.data._torch_adapter import TorchPartitionedDataset

        return TorchPartitionedDataset(self, rank=rank, world_size=world_size)


@dataclass(frozen=True)
class PartitionedInfo:
    """What `write_partitioned_parquet` wrote: the files, columns and the ground truth."""

    files: list[Path]
    columns: list[str]
    label: str
    weight: np.ndarray
    bias: float
    n_rows: int
    task: str


def write_partitioned_parquet(directory: PathLike, n_rows: int, n_partitions: int,
                              n_features: int = 8, seed: int = 0, task: str = "logistic",
                              noise: float = 0.1) -> PartitionedInfo:
    """Write a synthetic table as `n_partitions` Parquet files, one partition in memory.

    Columns x0 .. x{F-1} (float32, standard normal) and y: for task="logistic" y is int64
    in {0, 1} with P(y=1) = sigmoid(x @ weight + bias); for "linear" y is float32,
    x @ weight + bias + noise * N(0, 1). Files: directory/part-00000.parquet, ... (row
    counts differ by at most one). Dask reads the directory with dd.read_parquet.
    Returns a PartitionedInfo with the files and the true weight (F,) float32 and bias.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if n_partitions <= 0 or n_rows < n_partitions:
        raise ValueError(f"need 0 < n_partitions <= n_rows, got n_rows={n_rows}, "
                         f"n_partitions={n_partitions}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    weight, bias, draw = regression_stream(seed, n_features, task, noise)
    columns = [f"x{j}" for j in range(n_features)]
    sizes = np.diff(np.linspace(0, n_rows, n_partitions + 1).round().astype(np.int64))
    files = []
    for k, size in enumerate(sizes):
        X, _, y = draw(int(size))
        y = y.astype(np.int64) if task == "logistic" else y.astype(np.float32)
        Xc = np.ascontiguousarray(X.T)  # contiguous columns: Arrow copies strided ones slowly
        table = pa.table({**{c: Xc[j] for j, c in enumerate(columns)}, "y": y})
        path = root / f"part-{k:05d}.parquet"
        pq.write_table(table, path)
        files.append(path)
    return PartitionedInfo(files, columns, "y", weight, bias, int(n_rows), task)
