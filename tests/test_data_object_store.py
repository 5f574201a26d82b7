"""Parquet partitions on object stores: fsspec URLs (memory://, file://) and a real S3 API.

The S3 test starts moto's S3-compatible server on 127.0.0.1 (a separate process), talks
to it with s3fs, and stops it afterwards; it is skipped when moto or s3fs is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dlbd_lib.data import (
    PartitionedDataset,
    _fs,
    feature_stats,
    train_val_split,
    write_partitioned_parquet,
)

pytest.importorskip("pyarrow")
fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memory_store() -> Iterator[str]:
    fs = fsspec.filesystem("memory")
    yield "memory://dlbd-test"
    fs.rm("/dlbd-test", recursive=True)


def all_rows(ds: PartitionedDataset) -> np.ndarray:
    return np.concatenate([np.column_stack([X, y]) for X, y in ds])


def test_urls_are_joined_without_pathlib() -> None:
    assert _fs.join("s3://bucket/out", "train") == "s3://bucket/out/train"
    assert _fs.join("s3://bucket/out/", "/train") == "s3://bucket/out/train"
    assert _fs.join("/tmp/out", "train") == Path("/tmp/out/train")
    assert _fs.location("file:///tmp/x") == Path("/tmp/x")
    assert _fs.location("gs://b/t/") == "gs://b/t"


def test_memory_url_round_trip_equals_local(memory_store: str, tmp_path: Path) -> None:
    url = f"{memory_store}/table"
    info = write_partitioned_parquet(url, 3_000, 4, n_features=3, seed=5)
    assert info.files == [f"{url}/part-0000{k}.parquet" for k in range(4)]
    local = write_partitioned_parquet(tmp_path / "t", 3_000, 4, n_features=3, seed=5)
    ds = PartitionedDataset(url, batch_size=500)
    assert ds.num_rows == 3_000 and ds.columns == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(all_rows(ds), all_rows(PartitionedDataset(tmp_path / "t")))
    # file:// URLs are local paths
    file_ds = PartitionedDataset(f"file://{tmp_path / 't'}")
    assert file_ds.files == local.files
    with pytest.raises(FileNotFoundError, match="memory://dlbd-test/nowhere"):
        PartitionedDataset(f"{memory_store}/nowhere")


def test_dask_split_and_stats_on_a_memory_url(memory_store: str) -> None:
    url = f"{memory_store}/table"
    write_partitioned_parquet(url, 4_000, 4, n_features=2, seed=1)
    mean, std = feature_stats(url, ["x0", "x1"])
    assert mean.shape == (2,) and np.all(np.abs(mean) < 0.1) and np.all(np.abs(std - 1) < 0.1)
    n_train, n_val = train_val_split(url, f"{memory_store}/split", val_fraction=0.25, seed=0)
    assert n_train + n_val == 4_000 and abs(n_val / 4_000 - 0.25) < 0.05
    fs = fsspec.filesystem("memory")
    assert fs.isdir("/dlbd-test/split/train") and not fs.exists("/s3:")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[dict]:
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto's S3 server did not start")
                time.sleep(0.2)
        # explicit credentials and region: botocore must not look for them on the network
        yield {"key": "testing", "secret": "testing",
               "endpoint_url": f"http://127.0.0.1:{port}",
               "client_kwargs": {"region_name": "eu-west-1"}}
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode is not None


def test_s3_api_write_read_split_and_shard(s3_endpoint: dict) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3_endpoint)
    fs.mkdir("dlbd-bucket")
    url = "s3://dlbd-bucket/table"
    info = write_partitioned_parquet(url, 2_000, 5, n_features=2, seed=3,
                                     storage_options=s3_endpoint)
    assert all(f.startswith("s3://dlbd-bucket/table/part-") for f in info.files)
    assert sorted(fs.ls("dlbd-bucket/table")) == [f[len("s3://"):] for f in info.files]
    ds = PartitionedDataset(url, batch_size=256, shuffle_partitions=True, seed=0,
                            storage_options=s3_endpoint)
    rows = all_rows(ds)
    assert rows.shape == (2_000, 3)
    counts = [sum(1 for _ in ds.iter_shard(r, 2, even="pad")) for r in range(2)]
    assert counts[0] == counts[1] == max(ds.shard_batch_counts(2, epoch=1))
    n_train, n_val = train_val_split(url, "s3://dlbd-bucket/split", seed=0,
                                     storage_options=s3_endpoint)
    assert n_train + n_val == 2_000
    assert fs.isdir("dlbd-bucket/split/train") and fs.isdir("dlbd-bucket/split/val")
