"""The shipped data-parallel script: unequal partitions never hang; 2 nodes via c10d."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlbd_lib.data import PartitionedDataset

torch = pytest.importorskip("torch")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SIZES = [900, 60, 400, 30, 700, 250, 120, 45]  # 2,505 rows: shards of very unequal size
BATCH = 64


@pytest.fixture
def unequal(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    w = np.array([1.5, -2.0, 0.5], dtype=np.float32)
    for k, n in enumerate(SIZES):
        X = rng.standard_normal((n, 3)).astype(np.float32)
        y = (X @ w + 0.3 * rng.standard_normal(n) > 0).astype(np.int64)
        pq.write_table(pa.table({"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "y": y}),
                       tmp_path / f"part-{k}.parquet")
    return tmp_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
            "PYTHONPATH": os.pathsep.join(p for p in (path, root) if p)}


def script_args(data: Path, out: Path) -> list[str]:
    return ["-m", "dlbd_lib.ddp_train", "--data", str(data), "--out", str(out),
            "--batch-size", str(BATCH), "--epochs", "2", "--lr", "0.5", "--timeout", "30"]


def test_three_ranks_over_unequal_partitions_all_finish(unequal: Path, tmp_path: Path) -> None:
    ds = PartitionedDataset(unequal, batch_size=BATCH, shuffle_partitions=True, seed=0)
    naive = [ds.shard_batch_counts(3, epoch=e) for e in (0, 1)]
    assert all(len(set(c)) > 1 for c in naive), "the shards must be unequal to test anything"
    out = tmp_path / "model.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=3",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}",
           *script_args(unequal, out)]
    run = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["backend"] == "gloo" and summary["world_size"] == 3
    padded = sum(max(c) for c in naive)  # every rank pads to the largest shard, each epoch
    assert summary["steps_per_rank"] == [padded] * 3
    assert sum(summary["rows_per_rank"]) >= 2 * sum(SIZES)  # every row at least once
    state = torch.load(out)
    w = state["weight"].numpy().ravel()
    assert np.corrcoef(w, [1.5, -2.0, 0.5])[0, 1] > 0.95  # it learned the true direction


def test_two_nodes_meet_through_c10d_rendezvous(unequal: Path, tmp_path: Path) -> None:
    port, out = free_port(), tmp_path / "model.pt"
    nodes = []
    for _node in range(2):  # two "machines": one torchrun each, meeting at 127.0.0.1:port
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2",
               "--nproc_per_node=1", "--rdzv_backend=c10d",
               f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=dlbd-test",
               "--rdzv_conf=join_timeout=60", *script_args(unequal, out), "--epochs", "1"]
        nodes.append(subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        results = [p.communicate(timeout=150) for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    for p, (_, err) in zip(nodes, results):
        assert p.returncode == 0, err[-3000:]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["world_size"] == 2
    assert len(set(summary["steps_per_rank"])) == 1
