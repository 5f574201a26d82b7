"""The benchmark runs, both engines start from the same loss on every workload, and
--write-readme writes both tables.

Speed itself is not asserted here (timed unit tests are flaky); `python -m benchmarks`
measures it and writes benchmarks/results.md.
"""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main, run, table, write_readme
from benchmarks.workloads import TARGETS

NAMES = ["mlp_small", "mlp_big", "lenet", "rnn", "lstm", "lenet256", "cifar_cnn", "video"]


def test_every_workload_runs_and_starts_from_the_same_loss():
    rows = run(repeats=1, warmup=0)
    assert [r["name"] for r in rows] == NAMES == list(TARGETS)
    for r in rows:
        assert r["dlbd_ms"] > 0 and r["torch_ms"] > 0
        assert r["first_loss_dlbd"] == pytest.approx(r["first_loss_torch"], rel=1e-4), r["name"]
        assert r["target"] == TARGETS[r["name"]][0]
    text = table(rows)
    assert text.count("\n") == len(rows) + 1 and "ratio dlbd/torch" in text


def test_one_thread_run_uses_the_one_thread_targets():
    rows = run(repeats=2, warmup=0, only=["video"], one_thread=True, block=1)
    assert [r["target"] for r in rows] == [TARGETS["video"][1]]


def test_main_writes_the_results_file(tmp_path, capsys):
    out = tmp_path / "results.md"
    assert main(["--repeats", "1", "--warmup", "0", "--only", "mlp_small", "--threads", "1",
                 "--output", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmark: dlbd_lib vs PyTorch")
    assert "MLP 64-128-10, batch 64" in text and "Machine:" in text and "--threads 1" in text
    # numpy's BLAS, dlbd_lib and torch were all pinned to one thread
    assert "1 thread)" in text and "dlbd_lib 1 thread, " in text
    assert "numba" in text  # its kernels ("numba 0.68.1 kernels" or "no numba")


def test_each_block_after_a_pause_starts_with_untimed_settling_steps():
    from benchmarks.__main__ import time_workload
    from benchmarks.workloads import Workload

    calls = {"dlbd": 0, "torch": 0}

    def step(name):
        def f():
            calls[name] += 1
            return 1.0
        return f

    w = Workload("w", "w", 1.0, step("dlbd"), step("torch"))
    time_workload(w, repeats=4, warmup=0, block=2, pause=0.01, settle=0.05)
    # 1 first-loss step + 4 timed + at least one settling step in each of 2 blocks
    assert calls["dlbd"] > 7 and calls["torch"] > 7
    calls.update(dlbd=0, torch=0)
    time_workload(w, repeats=4, warmup=0, block=2, pause=0.01, settle=0.0)
    assert calls == {"dlbd": 5, "torch": 5}


def test_write_readme_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- benchmark:start -->\nOLD TABLE\n<!-- benchmark:end -->\nrest\n")
    rows = [{"name": "lenet", "description": "LeNet", "target": 1.25, "dlbd_ms": 2.0,
             "torch_ms": 4.0, "ratio": 0.5, "first_loss_dlbd": 2.3, "first_loss_torch": 2.3}]
    text = "Measured today.\n\nMachine: a CPU.\n\nMedian time.\n\n" + table(rows) + "\n"
    write_readme(text, text.replace("0.50 ✓", "0.60 ✓"), readme)
    new = readme.read_text()
    assert new.startswith("intro\n<!-- benchmark:start -->") and new.endswith("end -->\nrest\n")
    assert "OLD TABLE" not in new and "0.50 ✓" in new and "0.60 ✓" in new
    assert "one thread): a CPU." in new
