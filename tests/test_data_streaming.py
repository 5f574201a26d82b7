"""Streaming mini-batches from memory-mapped .npy files bigger than one batch."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from dlbd_lib.data import DataLoader, MemmapDataset, stream_batches, write_memmap_dataset
from dlbd_lib.data.streaming import rebatch
from dlbd_lib.tensor import Tensor

N_ROWS, N_FEATURES = 100_000, 16  # X.npy is 6.4 MB


def row_index(X: np.ndarray) -> dict[bytes, int]:
    """Row number of each row of X, keyed by the row's bytes (rows are all distinct)."""
    return {row.tobytes(): i for i, row in enumerate(np.asarray(X))}


@pytest.fixture(scope="module")
def memmap_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("memmap")
    info = write_memmap_dataset(path, N_ROWS, N_FEATURES, chunk_rows=10_000, seed=3)
    return path, info


def test_written_files_shapes_dtypes_and_truth(memmap_dir: tuple) -> None:
    path, info = memmap_dir
    X = np.load(path / "X.npy", mmap_mode="r")
    y = np.load(path / "y.npy", mmap_mode="r")
    assert X.shape == (N_ROWS, N_FEATURES) and X.dtype == np.float32
    assert y.shape == (N_ROWS,) and y.dtype == np.float32
    assert (path / "X.npy").stat().st_size > 6_000_000
    assert info.weight.shape == (N_FEATURES,) and info.weight.dtype == np.float32
    # least squares on the file recovers the true weights: the ground truth is right
    A = np.c_[np.asarray(X[:20_000], dtype=np.float64), np.ones(20_000)]
    coef, *_ = np.linalg.lstsq(A, y[:20_000], rcond=None)
    np.testing.assert_allclose(coef[:-1], info.weight, atol=5e-3)
    assert abs(coef[-1] - info.bias) < 5e-3


def test_writer_is_seeded_and_independent_of_chunk_size(tmp_path: Path) -> None:
    a = write_memmap_dataset(tmp_path / "a", 5_000, 4, chunk_rows=1_000, seed=1)
    b = write_memmap_dataset(tmp_path / "b", 5_000, 4, chunk_rows=777, seed=1)
    c = write_memmap_dataset(tmp_path / "c", 5_000, 4, chunk_rows=1_000, seed=2)
    np.testing.assert_array_equal(np.load(a.path_X), np.load(b.path_X))
    np.testing.assert_array_equal(np.load(a.path_y), np.load(b.path_y))
    assert not np.array_equal(np.load(a.path_X), np.load(c.path_X))


def test_writer_holds_only_a_chunk_in_memory(tmp_path: Path) -> None:
    tracemalloc.start()
    write_memmap_dataset(tmp_path, 200_000, 8, chunk_rows=5_000, seed=0)  # 6.4 MB of X
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_500_000, f"peak {peak} bytes: more than a few chunks were in memory"


def test_logistic_labels(tmp_path: Path) -> None:
    info = write_memmap_dataset(tmp_path, 20_000, 5, seed=0, task="logistic")
    X, y = np.load(info.path_X), np.load(info.path_y)
    assert set(np.unique(y).tolist()) == {0.0, 1.0} and y.dtype == np.float32
    agree = ((X @ info.weight + info.bias > 0) == (y == 1)).mean()
    assert agree > 0.75
    with pytest.raises(ValueError, match="task"):
        write_memmap_dataset(tmp_path / "x", 10, 2, task="poisson")


def test_every_row_once_per_epoch_in_full_batches(memmap_dir: tuple) -> None:
    path, _ = memmap_dir
    X = np.load(path / "X.npy", mmap_mode="r")
    batches = list(stream_batches(path, batch_size=1000 - 1, seed=0, block_rows=4096))
    sizes = [len(xb) for xb, _ in batches]
    assert all(s == 999 for s in sizes[:-1]) and sum(sizes) == N_ROWS
    index = row_index(X)
    assert len(index) == N_ROWS
    seen = np.array([index[row.tobytes()] for xb, _ in batches for row in xb])
    np.testing.assert_array_equal(np.sort(seen), np.arange(N_ROWS))
    y = np.load(path / "y.npy")
    for xb, yb in batches[:3]:  # each row keeps its label
        np.testing.assert_array_equal(y[[index[row.tobytes()] for row in xb]], yb)


def test_blocks_are_contiguous_and_shuffled(memmap_dir: tuple) -> None:
    path, _ = memmap_dir
    X = np.load(path / "X.npy")
    index = row_index(X)
    plain = [xb for xb, _ in stream_batches(path, batch_size=500, shuffle_chunks=False)]
    np.testing.assert_array_equal(np.concatenate(plain), X)  # unshuffled: file order
    block = 2_000
    batches = [xb for xb, _ in stream_batches(path, batch_size=500, seed=1, block_rows=block)]
    rows = [np.array([index[row.tobytes()] for row in xb]) for xb in batches]
    assert all(len(set((r // block).tolist())) == 1 for r in rows)  # each batch: one block
    assert not np.array_equal(np.concatenate(rows), np.arange(N_ROWS))
    assert (np.diff(rows[0]) != 1).any()  # shuffled inside the block
    firsts = [r[0] // block for r in rows[:: block // 500]]
    assert firsts != sorted(firsts)  # the blocks come in a shuffled order


def test_seed_reproducible_and_epochs_differ(memmap_dir: tuple) -> None:
    path, _ = memmap_dir
    a = [xb for xb, _ in stream_batches(path, batch_size=4096, seed=7, block_rows=8192)]
    b = [xb for xb, _ in stream_batches(path, batch_size=4096, seed=7, block_rows=8192)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    ds = MemmapDataset(path, seed=7)
    e1 = next(iter(ds.batches(4096, block_rows=8192)))[0]
    e2 = next(iter(ds.batches(4096, block_rows=8192)))[0]
    assert not np.array_equal(e1, e2)


def test_streaming_peak_memory_is_a_block_not_the_file(memmap_dir: tuple) -> None:
    path, _ = memmap_dir
    file_bytes = (path / "X.npy").stat().st_size
    tracemalloc.start()
    total = 0
    for xb, yb in stream_batches(path, batch_size=256, seed=0, block_rows=2048):
        total += float(xb.sum()) + float(yb.sum())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < file_bytes / 10, f"peak {peak} bytes for a {file_bytes}-byte file"


def test_memmap_dataset_with_dataloader(memmap_dir: tuple) -> None:
    path, _ = memmap_dir
    ds = MemmapDataset(path / "X.npy", path / "y.npy")
    assert len(ds) == N_ROWS
    x0, y0 = ds[3]
    assert isinstance(x0, Tensor) and x0.shape == (N_FEATURES,)
    loader = DataLoader(ds, batch_size=4096, shuffle=True, seed=0)
    xb, yb = next(iter(loader))
    assert xb.shape == (4096, N_FEATURES) and yb.shape == (4096,)
    assert type(xb.data) is np.ndarray  # an in-memory copy, not a view of the map
    assert ds.default_block_rows(1000) % 1000 == 0


def test_as_tensor_and_features_only(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.arange(20, dtype=np.float32).reshape(10, 2))
    batches = list(stream_batches(tmp_path / "X.npy", batch_size=4, shuffle_chunks=False,
                                  as_tensor=True))
    assert [b.shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0], Tensor)
    dropped = list(stream_batches(tmp_path / "X.npy", batch_size=4, drop_last=True))
    assert len(dropped) == 2


def test_errors_name_the_file_or_argument(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere.npy"):
        stream_batches(tmp_path / "nothere.npy", batch_size=4)
    np.save(tmp_path / "X.npy", np.zeros((10, 2), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.zeros(9, dtype=np.float32))
    with pytest.raises(ValueError, match=r"10 rows.*y\.npy.*\(9,\)"):
        MemmapDataset(tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        stream_batches(tmp_path / "X.npy", batch_size=0)
    (tmp_path / "bad.npy").write_bytes(b"not an npy file")
    with pytest.raises(ValueError, match="bad.npy"):
        MemmapDataset(tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="n_rows"):
        write_memmap_dataset(tmp_path / "z", 0, 3)


def test_rebatch_carries_leftovers_across_blocks() -> None:
    blocks = [(np.arange(a, b),) for a, b in [(0, 5), (5, 7), (7, 16)]]
    out = [b[0].tolist() for b in rebatch(blocks, 4)]
    assert out == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    out = [b[0].tolist() for b in rebatch([(np.arange(6),)], 4, drop_last=True)]
    assert out == [[0, 1, 2, 3]]
