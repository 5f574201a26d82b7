"""Iterating over a directory of Parquet partitions: order, coverage, errors, torch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dlbd_lib.data import PartitionedDataset, PartitionError, write_partitioned_parquet
from dlbd_lib.tensor import Tensor

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SIZES = [37, 50, 13, 64, 36]  # 200 rows in 5 partitions of different sizes


def write_id_partitions(directory: Path) -> list[Path]:
    """Partitions with a row `id` column (0..199), a feature x = id / 2 and a label."""
    directory.mkdir(parents=True, exist_ok=True)
    files, start = [], 0
    for k, n in enumerate(SIZES):
        ids = np.arange(start, start + n)
        table = pa.table({"id": ids, "x": ids / 2.0, "label": ids % 3})
        path = directory / f"part.{k}.parquet"
        pq.write_table(table, path)
        files.append(path)
        start += n
    return files


def ids_of(ds: PartitionedDataset) -> list[list[int]]:
    """The row ids of each batch of one epoch."""
    return [X[:, 0].astype(int).tolist() for X, _ in ds]


@pytest.fixture
def id_dir(tmp_path: Path) -> Path:
    write_id_partitions(tmp_path / "parts")
    return tmp_path / "parts"


def test_all_rows_once_per_epoch_in_full_batches(id_dir: Path) -> None:
    ds = PartitionedDataset(id_dir, columns=["id", "x"], label="label", batch_size=16,
                            shuffle_partitions=True, shuffle_rows=True, seed=0)
    assert ds.num_rows == 200
    for _ in range(3):  # three epochs
        batches = ids_of(ds)
        assert [len(b) for b in batches] == [16] * 12 + [8]
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(200))


def test_batches_carry_features_and_labels(id_dir: Path) -> None:
    ds = PartitionedDataset(id_dir, columns=["id", "x"], label="label", batch_size=32)
    X, y = next(iter(ds))
    assert X.dtype == np.float32 and X.shape == (32, 2)
    assert y.dtype == np.int64  # integer labels stay integer
    np.testing.assert_array_equal(X[:, 1], X[:, 0] / 2)
    np.testing.assert_array_equal(y, X[:, 0].astype(int) % 3)
    # without shuffling: the files' order, which is sorted by name
    assert [i for b in ids_of(ds) for i in b] == list(range(200))


def test_seed_determinism_and_epochs_differ(id_dir: Path) -> None:
    def make(seed: int) -> PartitionedDataset:
        return PartitionedDataset(id_dir, columns=["id"], label="label", batch_size=10,
                                  shuffle_partitions=True, shuffle_rows=True, seed=seed)

    a, b = make(1), make(1)
    a1, a2 = ids_of(a), ids_of(a)
    assert a1 == ids_of(b) and a2 == ids_of(b)
    assert a1 != a2
    assert ids_of(make(2)) != a1
    a.set_epoch(0)
    assert ids_of(a) == a1


def test_default_columns_and_no_label(id_dir: Path) -> None:
    ds = PartitionedDataset(id_dir, label="label", batch_size=50)
    X, _ = next(iter(ds))
    assert ds.columns == ["id", "x"] and X.shape == (50, 2)
    only_X = next(iter(PartitionedDataset(id_dir, columns=["x"], label=None, batch_size=7)))
    assert isinstance(only_X, np.ndarray) and only_X.shape == (7, 1)


def test_as_tensor_yields_dlbd_tensors(id_dir: Path) -> None:
    ds = PartitionedDataset(id_dir, columns=["x"], label="label", batch_size=8, as_tensor=True)
    X, y = next(iter(ds))
    assert isinstance(X, Tensor) and isinstance(y, Tensor) and y.dtype == np.int64


def test_corrupt_partition_raises_naming_the_file(id_dir: Path) -> None:
    bad = id_dir / "part.2.parquet"
    bad.write_bytes(b"this is not a parquet file" * 10)
    ds = PartitionedDataset(id_dir, columns=["id"], label="label", batch_size=16)
    with pytest.raises(PartitionError, match=r"part\.2\.parquet.*Parquet"):
        list(ds)
    with pytest.raises(PartitionError, match=r"part\.2\.parquet"):
        ds.num_rows  # noqa: B018
    (id_dir / "part.0.parquet").write_bytes(b"")  # the file the columns come from
    with pytest.raises(PartitionError, match=r"part\.0\.parquet"):
        PartitionedDataset(id_dir, label="label")
    skip = PartitionedDataset(id_dir, label="label", on_error="skip")
    assert skip.columns == ["id", "x"]


def test_skip_mode_records_the_bad_file_and_keeps_the_rest(id_dir: Path) -> None:
    (id_dir / "part.2.parquet").write_bytes(b"garbage")
    ds = PartitionedDataset(id_dir, columns=["id"], label="label", batch_size=16,
                            on_error="skip")
    flat = sorted(i for b in ids_of(ds) for i in b)
    start = sum(SIZES[:2])
    assert flat == [i for i in range(200) if not start <= i < start + SIZES[2]]
    assert list(ds.skipped_files) == [id_dir / "part.2.parquet"]
    assert "Parquet" in ds.skipped_files[id_dir / "part.2.parquet"]


def test_missing_file_errors(id_dir: Path, tmp_path: Path) -> None:
    files = sorted(id_dir.glob("*.parquet"))
    ghost = id_dir / "part.9.parquet"
    with pytest.raises(FileNotFoundError, match=r"part\.9\.parquet"):
        PartitionedDataset(files + [ghost], columns=["id"], label="label")
    # a file that disappears after the dataset was made
    ds = PartitionedDataset(files, columns=["id"], label="label", batch_size=64)
    files[3].unlink()
    with pytest.raises(FileNotFoundError, match=r"part\.3\.parquet"):
        list(ds)
    skip = PartitionedDataset(files + [ghost], columns=["id"], label="label", on_error="skip")
    assert sum(len(b) for b in ids_of(skip)) == 200 - SIZES[3]
    assert set(skip.skipped_files) == {files[3], ghost}
    with pytest.raises(FileNotFoundError, match="nowhere"):
        PartitionedDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .parquet files"):
        PartitionedDataset(tmp_path / "empty")


def test_missing_column_names_file_and_column(id_dir: Path) -> None:
    ds = PartitionedDataset(id_dir, columns=["id", "height"], label="label")
    with pytest.raises(PartitionError, match=r"part\.0\.parquet.*height"):
        list(ds)


def test_text_column_is_a_clear_error(tmp_path: Path) -> None:
    pq.write_table(pa.table({"name": ["a", "b"], "y": [0, 1]}), tmp_path / "p.parquet")
    with pytest.raises(PartitionError, match=r"p\.parquet.*'name'.*not numeric"):
        list(PartitionedDataset(tmp_path))


def test_bad_arguments(id_dir: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        PartitionedDataset(id_dir, batch_size=0)
    with pytest.raises(ValueError, match="on_error"):
        PartitionedDataset(id_dir, on_error="ignore")


def test_hidden_and_metadata_files_are_not_partitions(id_dir: Path) -> None:
    (id_dir / "_metadata").write_bytes(b"x")
    (id_dir / "_common.parquet").write_bytes(b"x")
    (id_dir / ".part.0.parquet.crc").write_bytes(b"x")
    assert len(PartitionedDataset(id_dir).files) == len(SIZES)


def test_writer_row_counts_determinism_and_truth(tmp_path: Path) -> None:
    info = write_partitioned_parquet(tmp_path / "a", n_rows=5_000, n_partitions=4, n_features=3,
                                     seed=0)
    again = write_partitioned_parquet(tmp_path / "b", n_rows=5_000, n_partitions=4,
                                      n_features=3, seed=0)
    assert [p.name for p in info.files] == [f"part-0000{k}.parquet" for k in range(4)]
    counts = [pq.ParquetFile(p).metadata.num_rows for p in info.files]
    assert counts == [1250] * 4
    t1 = pa.concat_tables([pq.read_table(p) for p in info.files])
    t2 = pa.concat_tables([pq.read_table(p) for p in again.files])
    assert t1.equals(t2) and t1.column_names == ["x0", "x1", "x2", "y"]
    assert t1.schema.field("y").type == pa.int64()
    X = np.stack([t1.column(c).to_numpy() for c in info.columns], axis=1)
    y = t1.column("y").to_numpy()
    assert ((X @ info.weight + info.bias > 0) == (y == 1)).mean() > 0.75
    ds = PartitionedDataset(tmp_path / "a", batch_size=1000)
    assert ds.num_rows == 5_000 and ds.columns == info.columns
    reg = write_partitioned_parquet(tmp_path / "r", 100, 3, seed=1, task="linear")
    assert pq.read_table(reg.files[0]).schema.field("y").type == pa.float32()
    with pytest.raises(ValueError, match="n_partitions"):
        write_partitioned_parquet(tmp_path / "c", n_rows=3, n_partitions=4)


def test_torch_adapter_shards_partitions_over_workers(id_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    ds = PartitionedDataset(id_dir, columns=["id"], label="label", batch_size=16,
                            shuffle_partitions=True, seed=0)
    tds = ds.torch()
    assert isinstance(tds, torch.utils.data.IterableDataset)
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(tds, batch_size=None, num_workers=workers)
        batches = list(loader)
        assert all(isinstance(X, torch.Tensor) and y.dtype == torch.int64 for X, y in batches)
        ids = torch.cat([X[:, 0] for X, _ in batches]).long().sort().values
        assert ids.tolist() == list(range(200))  # each row once, even with 2 workers
    shards = []
    for rank in (0, 1):  # two data-parallel processes, each with its copy at epoch 5
        tds = ds.torch(rank=rank, world_size=2, even=None)  # exact split, unequal counts
        tds.set_epoch(5)
        shards.append(sorted(i for X, _ in tds for i in X[:, 0].tolist()))
    assert not set(shards[0]) & set(shards[1]) and len(shards[0]) + len(shards[1]) == 200


def test_importing_the_data_package_imports_neither_torch_nor_pyarrow() -> None:
    import subprocess

    code = ("import sys, dlbd_lib.data; "
            "print([m for m in ('torch', 'pyarrow', 'sklearn', 'scipy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
