"""The larger-than-memory benchmark command, at a tiny size: capped children, truth, plot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
if not sys.platform.startswith("linux"):
    pytest.skip("the benchmark caps memory with Linux's RLIMIT_DATA", allow_module_level=True)

from benchmarks.out_of_core import main, plot_results  # noqa: E402


def test_tiny_run_trains_under_the_cap_and_recovers_the_truth(tmp_path: Path) -> None:
    out = tmp_path / "ooc.json"
    results = main(["--size-gb", "0.004", "--engines", "dlbd_lib", "--mem-limit-gb", "1",
                    "--dir", str(tmp_path / "data"), "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    (size,) = results["sizes"]
    assert size["write"]["rows"] > 40_000 and size["write"]["partitions"] >= 3
    run = size["train"]["dlbd_lib"]
    assert run["rows"] + run["test_rows"] == size["write"]["rows"]
    assert run["peak_rss_mib"] < 1024 and run["rows_per_s"] > 0
    assert abs(run["accuracy"] - run["true_weights_accuracy"]) < 0.02
    assert run["cosine_to_true_w"] > 0.95
    assert not (tmp_path / "data" / "table-0.004GB").exists()  # data deleted afterwards
    assert results["cap"].startswith("RLIMIT_DATA")
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_results(results, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000 and len(fig.axes) == 2


def test_a_cap_below_the_need_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="writing failed"):
        main(["--size-gb", "0.004", "--mem-limit-gb", "0.02", "--dir", str(tmp_path)])
