"""Equal shards for data-parallel training: every rank gets the same number of batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlbd_lib.data import PartitionedDataset

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SIZES = [300, 40, 120, 90, 10, 200, 64]  # 824 rows, very unequal partitions


@pytest.fixture
def parts(tmp_path: Path) -> Path:
    start = 0
    for k, n in enumerate(SIZES):
        ids = np.arange(start, start + n)
        pq.write_table(pa.table({"id": ids, "y": ids % 2}), tmp_path / f"p{k}.parquet")
        start += n
    return tmp_path


def shard_ids(ds: PartitionedDataset, world: int, even: str | None, epoch: int = 0
              ) -> list[list[list[int]]]:
    out = []
    for rank in range(world):
        ds.set_epoch(epoch)
        out.append([X[:, 0].astype(int).tolist() for X, _ in ds.iter_shard(rank, world, even)])
    return out


@pytest.mark.parametrize("world", [2, 3, 4])
def test_counts_from_footers_match_the_batches(parts: Path, world: int) -> None:
    ds = PartitionedDataset(parts, batch_size=32, shuffle_partitions=True, seed=3)
    counts = ds.shard_batch_counts(world, epoch=1)
    assert [len(b) for b in shard_ids(ds, world, None, epoch=1)] == counts
    assert len(set(counts)) > 1, "the fixture must give unequal shards"


@pytest.mark.parametrize("world", [2, 3])
def test_pad_gives_equal_counts_and_every_row(parts: Path, world: int) -> None:
    ds = PartitionedDataset(parts, batch_size=32, shuffle_partitions=True, seed=0)
    counts = ds.shard_batch_counts(world, epoch=0)
    shards = shard_ids(ds, world, "pad")
    assert [len(s) for s in shards] == [max(counts)] * world
    seen = {i for s in shards for b in s for i in b}
    assert seen == set(range(sum(SIZES)))  # padding repeats rows, never loses one
    assert all(len(b) <= 32 for s in shards for b in s)


def test_truncate_gives_equal_counts_without_repeats(parts: Path) -> None:
    ds = PartitionedDataset(parts, batch_size=32, shuffle_partitions=True, seed=0)
    counts = ds.shard_batch_counts(3, epoch=0)
    shards = shard_ids(ds, 3, "truncate")
    assert [len(s) for s in shards] == [min(counts)] * 3
    flat = [i for s in shards for b in s for i in b]
    assert len(flat) == len(set(flat))


def test_torch_adapter_pads_by_default_across_ranks_and_workers(parts: Path) -> None:
    torch = pytest.importorskip("torch")
    ds = PartitionedDataset(parts, batch_size=32, shuffle_partitions=True, seed=0)
    steps = []
    for rank in range(3):
        tds = ds.torch(rank, 3)
        tds.set_epoch(2)
        loader = torch.utils.data.DataLoader(tds, batch_size=None, num_workers=0)
        steps.append(sum(1 for _ in loader))
    assert len(set(steps)) == 1 and steps[0] == max(ds.shard_batch_counts(3, epoch=2))


def test_errors_name_the_problem(parts: Path) -> None:
    ds = PartitionedDataset(parts, batch_size=32, shuffle_partitions=True)  # no seed
    with pytest.raises(ValueError, match="needs a seed"):
        next(ds.iter_shard(0, 2, even="pad"))
    seeded = PartitionedDataset(parts, batch_size=32, seed=0)
    with pytest.raises(ValueError, match="even must be"):
        next(seeded.iter_shard(0, 2, even="equal"))
    with pytest.raises(ValueError, match=r"no rows to pad.*7 partitions"):
        next(seeded.iter_shard(0, 8, even="pad"))
