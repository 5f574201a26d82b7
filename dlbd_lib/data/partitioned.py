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

A source may be a local path or an fsspec URL (s3://, gs://, memory://, file://; pass
credentials or an endpoint in `storage_options`). For data-parallel training,
`iter_shard(..., even="pad")` (the default of `.torch(rank, world_size)` with several
ranks) gives every shard the same number of batches, so no rank waits for ever in an
all-reduce that another rank never joins.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlbd_lib.data import _fs
from dlbd_lib.data._fs import Location
from dlbd_lib.data.streaming import rebatch
from dlbd_lib.data.synthetic import regression_stream
from dlbd_lib.tensor import Tensor

__all__ = ["PartitionError", "PartitionedDataset", "PartitionedInfo",
           "write_partitioned_parquet"]

PathLike = str | os.PathLike


class PartitionError(ValueError):
    """A partition file that cannot be read as the expected Parquet table."""


def _list_partitions(source: PathLike | Sequence[PathLike],
                     storage_options: dict | None = None) -> list[Location]:
    """The .parquet files under a directory or URL prefix (sorted; hidden and _metadata
    files left out), or the given list of files as it is."""
    if isinstance(source, (str, os.PathLike)):
        root = _fs.location(source)
        if _fs.exists_file(root, storage_options):
            return [root]
        if not _fs.is_dir(root, storage_options):
            raise FileNotFoundError(f"partitioned dataset: no such file or directory: {root}")
        files = _fs.find_parquet(root, storage_options)
        if not files:
            raise FileNotFoundError(f"partitioned dataset: no .parquet files in {root}")
        return files
    files = [_fs.location(p) for p in source]
    if not files:
        raise ValueError("partitioned dataset: the list of partition files is empty")
    return files


class PartitionedDataset:
    """Iterate over Parquet partitions in mini-batches of (X, y) numpy arrays.

    source: a directory or URL prefix (every *.parquet below it) or a list of files;
    storage_options: passed to fsspec for URLs (e.g. {"endpoint_url": ...} for s3://).
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
                 as_tensor: bool = False, dtype: Any = np.float32,
                 storage_options: dict | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.storage_options = storage_options
        self.files = _list_partitions(source, storage_options)
        if on_error == "raise":
            missing = [p for p in self.files if not _fs.exists_file(p, storage_options)]
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
        self.skipped_files: dict[Location, str] = {}
        self._row_counts: dict[Location, int] = {}
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
    def _fail(self, path: Location, err: Exception) -> None:
        """Raise (or, with on_error='skip', record) a partition that cannot be read."""
        if self.on_error == "skip":
            self.skipped_files[path] = f"{type(err).__name__}: {err}"
            return
        raise err

    def _schema_names(self, path: Location) -> list[str]:
        """The column names in a partition's footer; a clear error naming a bad file."""
        import pyarrow as pa  # lazily: only this loader needs pyarrow
        import pyarrow.parquet as pq

        if not _fs.exists_file(path, self.storage_options):
            raise FileNotFoundError(f"partitioned dataset: partition file not found: {path}")
        fs, where = _fs.filesystem(path, self.storage_options)
        try:
            return pq.read_schema(where, filesystem=fs).names
        except (pa.ArrowException, OSError) as err:
            raise PartitionError(f"partition {path} could not be read as Parquet: "
                                 f"{err}") from None

    def read_partition(self, path: PathLike) -> tuple[np.ndarray, ...] | None:
        """One whole partition as (X (n, F), y (n,)) or (X,); None if skipped."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = _fs.location(path)
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
                fs, where = _fs.filesystem(path, self.storage_options)
                table = pq.read_table(where, columns=wanted, filesystem=fs)
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

    def partition_rows(self, path: Location) -> int:
        """Rows in one partition, from its Parquet footer (0 if skipped); cached."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if path not in self._row_counts:
            try:
                self._schema_names(path)
                fs, where = _fs.filesystem(path, self.storage_options)
                self._row_counts[path] = pq.ParquetFile(where, filesystem=fs).metadata.num_rows
            except (FileNotFoundError, PartitionError) as err:
                self._fail(path, err)
                return 0
            except (pa.ArrowException, OSError) as err:
                self._fail(path, PartitionError(
                    f"partition {path} could not be read as Parquet: {err}"))
                return 0
        return self._row_counts[path]

    @property
    def num_rows(self) -> int:
        """Total rows over the readable partitions (from the Parquet footers only)."""
        return sum(self.partition_rows(path) for path in self.files)

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

    def shard_batch_counts(self, num_shards: int, epoch: int | None = None) -> list[int]:
        """Batches each of `num_shards` shards yields in epoch `epoch` (default: the next),
        from the Parquet footers alone. Unequal counts hang data-parallel training: a rank
        that runs out stops joining the all-reduce, and the others wait for it."""
        order = self.partition_order(self.epoch if epoch is None else epoch)
        counts = []
        for shard in range(num_shards):
            rows = sum(self.partition_rows(self.files[i]) for i in order[shard::num_shards])
            full, rest = divmod(rows, self.batch_size)
            counts.append(full + (1 if rest and not self.drop_last else 0))
        return counts

    def iter_shard(self, shard: int = 0, num_shards: int = 1,
                   even: str | None = None) -> Iterator[Any]:
        """One epoch over the partitions of shard `shard` of `num_shards` (every
        num_shards-th partition of this epoch's order), then advance the epoch.

        even: None (each shard yields what it has), "pad" (every shard yields as many
        batches as the largest, by starting its own partitions again, like torch's
        DistributedSampler) or "truncate" (as many as the smallest, dropping the rest).
        """
        if not 0 <= shard < num_shards:
            raise ValueError(f"shard must be in [0, {num_shards}), got {shard}")
        if even not in (None, "pad", "truncate"):
            raise ValueError(f"even must be None, 'pad' or 'truncate', got {even!r}")
        if even is not None and num_shards > 1 and self.shuffle_partitions \
                and self.seed is None:
            raise ValueError("shuffle_partitions over several shards needs a seed: every "
                             "process must draw the same partition order")
        epoch = self.epoch
        self.epoch += 1
        mine = self.partition_order(epoch)[shard::num_shards]
        target = None
        if even is not None:
            counts = self.shard_batch_counts(num_shards, epoch)
            target = max(counts) if even == "pad" else min(counts)
            if target > 0 and min(counts) == 0:
                raise ValueError(f"shard batch counts {counts}: a shard has no rows to "
                                 f"pad with; use fewer shards (ranks x workers) than the "
                                 f"{len(self.files)} partitions")

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

        def batches() -> Iterator[tuple[np.ndarray, ...]]:
            n = 0
            while True:
                for batch in rebatch(blocks(), self.batch_size, self.drop_last):
                    if target is not None and n == target:
                        return
                    n += 1
                    yield batch
                if target is None or n == target or n == 0:
                    return  # one pass, or padding: go round the shard's partitions again

        for batch in batches():
            if self.as_tensor:
                batch = tuple(Tensor(b) for b in batch)
            yield batch if len(batch) > 1 else batch[0]

    def __iter__(self) -> Iterator[Any]:
        return self.iter_shard(0, 1)

    def torch(self, rank: int = 0, world_size: int = 1, even: str | None = "pad") -> Any:
        """This dataset as a torch IterableDataset yielding torch tensor batches.

        Use it as `torch.utils.data.DataLoader(ds.torch(), batch_size=None,
        num_workers=k)`: batches are already made, and the partitions are split over the
        k workers (and over `world_size` processes for data-parallel training), so each
        row is read once per epoch. With shuffle_partitions and workers, call
        `set_epoch(epoch)` on the returned object before each epoch. With world_size > 1,
        `even` ("pad", the default, or "truncate"; see iter_shard) makes every rank take
        the same number of steps (give every rank the same num_workers).
        """
        from dlbd_lib.data._torch_adapter import TorchPartitionedDataset

        return TorchPartitionedDataset(self, rank=rank, world_size=world_size, even=even)


@dataclass(frozen=True)
class PartitionedInfo:
    """What `write_partitioned_parquet` wrote: the files, columns and the ground truth."""

    files: list[Location]
    columns: list[str]
    label: str
    weight: np.ndarray
    bias: float
    n_rows: int
    task: str


def write_partitioned_parquet(directory: PathLike, n_rows: int, n_partitions: int,
                              n_features: int = 8, seed: int = 0, task: str = "logistic",
                              noise: float = 0.1, storage_options: dict | None = None
                              ) -> PartitionedInfo:
    """Write a synthetic table as `n_partitions` Parquet files, one partition in memory.

    Columns x0 .. x{F-1} (float32, standard normal) and y: for task="logistic" y is int64
    in {0, 1} with P(y=1) = sigmoid(x @ weight + bias); for "linear" y is float32,
    x @ weight + bias + noise * N(0, 1). Files: directory/part-00000.parquet, ... (row
    counts differ by at most one). Dask reads the directory with dd.read_parquet.
    directory may be an fsspec URL (s3://bucket/table, memory://table, ...).
    Returns a PartitionedInfo with the files and the true weight (F,) float32 and bias.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if n_partitions <= 0 or n_rows < n_partitions:
        raise ValueError(f"need 0 < n_partitions <= n_rows, got n_rows={n_rows}, "
                         f"n_partitions={n_partitions}")
    root = _fs.location(directory)
    _fs.makedirs(root, storage_options)
    weight, bias, draw = regression_stream(seed, n_features, task, noise)
    columns = [f"x{j}" for j in range(n_features)]
    sizes = np.diff(np.linspace(0, n_rows, n_partitions + 1).round().astype(np.int64))
    files = []
    for k, size in enumerate(sizes):
        X, _, y = draw(int(size))
        y = y.astype(np.int64) if task == "logistic" else y.astype(np.float32)
        Xc = np.ascontiguousarray(X.T)  # contiguous columns: Arrow copies strided ones slowly
        table = pa.table({**{c: Xc[j] for j, c in enumerate(columns)}, "y": y})
        path = _fs.join(root, f"part-{k:05d}.parquet")
        fs, where = _fs.filesystem(path, storage_options)
        pq.write_table(table, where, filesystem=fs)
        files.append(path)
    return PartitionedInfo(files, columns, "y", weight, bias, int(n_rows), task)
