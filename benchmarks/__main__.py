"""Time one training step of dlbd_lib and of PyTorch CPU, in the same run.

    python -m benchmarks [--repeats 50] [--only mlp_small,lenet] [--output FILE]
                         [--torch-device cuda]

Steps of the two engines are interleaved (dlbd, torch, dlbd, torch, ...) so that both
see the same machine load; the table gives medians and the ratio dlbd/torch. Measure as
a user runs it: on machines where OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set for old
OpenBLAS builds, unset both for this command (`env -u OPENBLAS_CORETYPE -u ...`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.workloads import Workload, all_workloads

HERE = Path(__file__).resolve().parent


def machine_description(torch_device: str = "cpu") -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown BLAS"
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            i = info[0]
            blas = f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
    except Exception:  # threadpoolctl is optional
        pass
    text = (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"numpy {np.__version__} with {blas}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")
    if torch_device.startswith("cuda"):
        text += f"; torch on {torch.cuda.get_device_name(0)}"
    return text


def time_workload(w: Workload, repeats: int, warmup: int) -> dict:
    first_d, first_t = w.dlbd_step(), float(w.torch_step())
    for _ in range(warmup):
        w.dlbd_step()
        w.torch_step()
    d_times, t_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        w.dlbd_step()
        t1 = time.perf_counter()
        w.torch_step()
        t2 = time.perf_counter()
        d_times.append(t1 - t0)
        t_times.append(t2 - t1)
    d_med, t_med = statistics.median(d_times), statistics.median(t_times)
    return {"name": w.name, "description": w.description, "target": w.target,
            "dlbd_ms": d_med * 1e3, "torch_ms": t_med * 1e3, "ratio": d_med / t_med,
            "first_loss_dlbd": first_d, "first_loss_torch": first_t}


def run(repeats: int = 50, warmup: int = 5, only: list[str] | None = None,
        torch_device: str = "cpu") -> list[dict]:
    rows = []
    for w in all_workloads(torch_device):
        if only and w.name not in only:
            continue
        rows.append(time_workload(w, repeats, warmup))
    return rows


def table(rows: list[dict], torch_label: str = "torch CPU") -> str:
    lines = [f"| workload | dlbd_lib (ms/step) | {torch_label} (ms/step) | ratio dlbd/torch "
             "| target | first loss dlbd / torch |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        ok = "✓" if r["ratio"] <= r["target"] else "✗"
        lines.append(f"| {r['description']} | {r['dlbd_ms']:.2f} | {r['torch_ms']:.2f} | "
                     f"{r['ratio']:.2f} {ok} | ≤ {r['target']:.1f} | "
                     f"{r['first_loss_dlbd']:.5f} / {r['first_loss_torch']:.5f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--output", default=str(HERE / "results.md"),
                        help="Markdown file to write ('-' for none)")
    parser.add_argument("--torch-device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for both engines (numpy's BLAS and torch); "
                             "0 keeps each library's default")
    args = parser.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    only = [s for s in args.only.split(",") if s] or None
    rows = run(args.repeats, args.warmup, only, args.torch_device)
    label = "torch CPU" if args.torch_device == "cpu" else f"torch {args.torch_device}"
    text = table(rows, label)
    env_note = ("OPENBLAS_CORETYPE set" if os.environ.get("OPENBLAS_CORETYPE")
                else "OPENBLAS_CORETYPE unset")
    threads = f" --threads {args.threads}" if args.threads else ""
    header = (f"Measured {_dt.date.today().isoformat()} with `python -m benchmarks "
              f"--repeats {args.repeats}{threads}` ({env_note}).\n\nMachine: "
              f"{machine_description(args.torch_device)}.\n\nMedian time of one training "
              "step (forward, loss, backward, SGD-momentum update), the two engines "
              "interleaved in one run, same weights and data.\n")
    print(header)
    print(text)
    if args.output != "-":
        Path(args.output).write_text("# Benchmark: dlbd_lib vs PyTorch\n\n" + header + "\n"
                                     + text + "\n", encoding="utf-8")
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
