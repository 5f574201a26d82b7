"""The README's Dask commands on one machine: `dask scheduler` + `dask worker` on 127.0.0.1,
a Client connected to them, and the course's statistics computed there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlbd_lib.data import feature_stats, write_partitioned_parquet

distributed = pytest.importorskip("distributed")
pytest.importorskip("pyarrow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_and_worker_commands_run_the_statistics(tmp_path: Path) -> None:
    info = write_partitioned_parquet(tmp_path / "table", 20_000, 4, n_features=3, seed=2)
    port, dash = free_port(), free_port()
    dask = [str(Path(sys.executable).with_name("dask"))]
    if not Path(dask[0]).exists():
        pytest.skip("the dask command is not installed next to this Python")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--dashboard-address", f"127.0.0.1:{dash}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen(dask + ["worker", address, "--nworkers", "1",
                                              "--nthreads", "1", "--host", "127.0.0.1",
                                              "--no-nanny", "--no-dashboard"],
                                      env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
            assert client.dashboard_link.startswith(f"http://127.0.0.1:{dash}")
            mean, std = feature_stats(tmp_path / "table", info.columns)
        local_mean, local_std = feature_stats(tmp_path / "table", info.columns)  # threads
        np.testing.assert_allclose(mean, local_mean, atol=1e-9)
        np.testing.assert_allclose(std, local_std, atol=1e-9)
    finally:
        # SIGTERM asks for a graceful close; a worker has been seen to spend over 30 s
        # in it (CI, 2026-12-06) after the statistics were right, so it gets 10 s and then
        # SIGKILL: what this test checks is the statistics, not dask's shutdown
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
