"""Out-of-core steps over partitioned Parquet with Dask: statistics and a train/val split.

Both take a local directory or an fsspec URL (s3://bucket/table, gs://..., memory://...)
plus `storage_options` (credentials, endpoint) and run on whatever Dask scheduler is
active: threads by default, or a `dask.distributed.Client`'s cluster. Nothing here
holds the table in memory: Dask works partition by partition. dask is imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from dlbd_lib.data import _fs
from dlbd_lib.data.partitioned import PartitionedDataset

__all__ = ["feature_stats", "train_val_split"]


def feature_stats(source: str | os.PathLike, columns: Sequence[str],
                  storage_options: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof=1) of each column, partition by partition.

    Returns (mean (F,), std (F,)) float64 arrays, in the order of `columns`.
    """
    import dask
    import dask.dataframe as dd

    df = dd.read_parquet(str(_fs.location(source)), columns=list(columns),
                         storage_options=storage_options)
    mean, std = dask.compute(df.mean(), df.std())
    return mean.to_numpy(), std.to_numpy()


def train_val_split(source: str | os.PathLike, out: str | os.PathLike,
                    val_fraction: float = 0.2, seed: int = 0,
                    storage_options: dict | None = None) -> tuple[int, int]:
    """A random split by rows, written as Parquet under out/train and out/val.

    Returns (train rows, val rows). Seeded per partition, so the same seed gives the same
    split on threads or on a cluster.
    """
    import dask
    import dask.dataframe as dd

    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    df = dd.read_parquet(str(_fs.location(source)), storage_options=storage_options)
    train, val = df.random_split([1 - val_fraction, val_fraction], random_state=seed)
    parts = {name: _fs.join(out, name) for name in ("train", "val")}
    dask.compute(*(part.to_parquet(str(parts[name]), write_index=False, compute=False,
                                   storage_options=storage_options)
                   for name, part in (("train", train), ("val", val))))
    return tuple(PartitionedDataset(parts[name], storage_options=storage_options).num_rows
                 for name in ("train", "val"))
