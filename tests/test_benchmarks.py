"""The benchmark runs, and both engines start from the same loss on every workload.

Speed itself is not asserted here (timed unit tests are flaky); `python -m benchmarks`
measures it and writes benchmarks/results.md.
"""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main, run, table


def test_every_workload_runs_and_starts_from_the_same_loss():
    rows = run(repeats=1, warmup=0)
    assert [r["name"] for r in rows] == ["mlp_small", "mlp_big", "lenet", "rnn", "lstm"]
    for r in rows:
        assert r["dlbd_ms"] > 0 and r["torch_ms"] > 0
        assert r["first_loss_dlbd"] == pytest.approx(r["first_loss_torch"], rel=1e-4), r["name"]
    text = table(rows)
    assert text.count("\n") == len(rows) + 1 and "ratio dlbd/torch" in text


def test_main_writes_the_results_file(tmp_path, capsys):
    out = tmp_path / "results.md"
    assert main(["--repeats", "1", "--warmup", "0", "--only", "mlp_small",
                 "--output", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmark: dlbd_lib vs PyTorch")
    assert "MLP 64-128-10, batch 64" in text and "Machine:" in text
