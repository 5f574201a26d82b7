"""Time one training step of dlbd_lib and of PyTorch CPU, in the same run.

    python -m benchmarks [--threads N] [--repeats 40] [--only lenet,cifar_cnn]
                         [--output FILE] [--torch-device cuda]
    python -m benchmarks --write-readme     # both tables, results*.md and the README

--threads 0 (the default) keeps each library's default threads (what learners run);
--threads 1 pins numpy's BLAS, dlbd_lib's own threads and torch to one thread, the fair
comparison of the engines themselves. --write-readme measures both and writes
benchmarks/results.md (default threads), benchmarks/results-1thread.md and the tables in
README.md between the benchmark markers.

The engines alternate in blocks of --block steps (dlbd, torch, dlbd, ...), with --pause
seconds between blocks when several threads run: idle OpenBLAS and OpenMP threads keep
spinning for a while after their work, and would steal the cores of the other engine.
After each pause, --settle seconds of untimed steps (default 0.1) let the engine wake its
own threads again: on the 2-core virtual machine of the README's tables, the steps of the
first ~50 ms after a pause took up to 1.8x a training loop's steady step for dlbd_lib
(whose pool threads sleep between ops) and 1.4x for torch, but only for its first step
(its OpenMP threads spin); `--settle 0` times those steps too.
The tables give median step times and the ratio dlbd/torch. Measure on a quiet machine:
on machines where OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set for old OpenBLAS builds,
unset both for this command (`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m
benchmarks ...`); the machine line records which BLAS kernel ran.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import dlbd_lib as dl
from benchmarks.workloads import Workload, builders
from dlbd_lib import _jit

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def _threads(n: int) -> str:
    return f"{n} thread{'' if n == 1 else 's'}"


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "an unknown BLAS (threadpoolctl not installed)"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "an unknown BLAS"
    # numpy's own (a wheel bundles it under numpy.libs), not scipy's, which numba loads
    i = next((lib for lib in libs if "numpy" in str(lib.get("filepath", ""))), libs[0])
    kernel = f", {i['architecture']} kernel" if i.get("architecture") else ""
    return (f"{i['internal_api']} {i['version']} ({i.get('threading_layer', '?')}{kernel}, "
            f"{_threads(i['num_threads'])})")


def machine_description(torch_device: str = "cpu") -> str:
    """CPU, cores, Python, numpy and its BLAS (kernel, threads), torch and its threads."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env = ", ".join(f"{k}={os.environ[k]}" for k in BLAS_ENV if k in os.environ) or "none"
    kernels = (f"numba {sys.modules['numba'].__version__} kernels" if _jit.kernels_enabled()
               else "numpy code only, no numba")
    text = (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; numpy "
            f"{np.__version__} with {_blas_info()}; dlbd_lib {_threads(dl.get_num_threads())}, "
            f"{kernels}; "
            f"torch {torch.__version__} ({_threads(torch.get_num_threads())}); BLAS/OpenMP "
            f"environment variables: {env}")
    if torch_device.startswith("cuda"):
        text += f"; torch on {torch.cuda.get_device_name(0)}"
    return text


def time_workload(w: Workload, repeats: int, warmup: int, block: int = 5,
                  pause: float = 0.0, settle: float = 0.0) -> dict:
    """Median step times of both engines, alternating blocks of `block` steps; after each
    pause, untimed steps for `settle` seconds first (the engine's threads and cores wake up
    again)."""
    first_d, first_t = w.dlbd_step(), float(w.torch_step())
    for _ in range(warmup):
        w.dlbd_step()
        w.torch_step()
    times: dict[str, list[float]] = {"dlbd": [], "torch": []}
    while len(times["torch"]) < repeats:
        for name, step in (("dlbd", w.dlbd_step), ("torch", w.torch_step)):
            if pause:
                time.sleep(pause)  # let the other engine's idle threads go to sleep
                t_end = time.perf_counter() + settle
                while time.perf_counter() < t_end:
                    step()
            for _ in range(min(block, repeats - len(times[name]))):
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    d_med, t_med = statistics.median(times["dlbd"]), statistics.median(times["torch"])
    return {"name": w.name, "description": w.description, "target": w.target,
            "dlbd_ms": d_med * 1e3, "torch_ms": t_med * 1e3, "ratio": d_med / t_med,
            "first_loss_dlbd": first_d, "first_loss_torch": first_t}


def run(repeats: int = 40, warmup: int = 5, only: list[str] | None = None,
        torch_device: str = "cpu", one_thread: bool = False, block: int = 5,
        pause: float = 0.0, settle: float = 0.0) -> list[dict]:
    rows = []
    for name, build in builders(torch_device, one_thread).items():
        if only and name not in only:
            continue
        rows.append(time_workload(build(), repeats, warmup, block, pause, settle))
    return rows


def table(rows: list[dict], torch_label: str = "torch CPU") -> str:
    lines = [f"| workload | dlbd_lib (ms/step) | {torch_label} (ms/step) | ratio dlbd/torch "
             "| target | first loss dlbd / torch |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        ok = "✓" if r["ratio"] <= r["target"] else "✗"
        lines.append(f"| {r['description']} | {r['dlbd_ms']:.2f} | {r['torch_ms']:.2f} | "
                     f"{r['ratio']:.2f} {ok} | ≤ {r['target']:.2f} | "
                     f"{r['first_loss_dlbd']:.5f} / {r['first_loss_torch']:.5f} |")
    return "\n".join(lines)


@contextmanager
def threads(n: int):
    """n > 0: numpy's BLAS, dlbd_lib and torch on n threads inside the block; 0: defaults."""
    if not n:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = (dl.get_num_threads(), torch.get_num_threads())
    with threadpool_limits(n):
        dl.set_num_threads(n)
        torch.set_num_threads(n)
        try:
            yield
        finally:
            dl.set_num_threads(before[0])
            torch.set_num_threads(before[1])


def measure(args: argparse.Namespace, n_threads: int, only: list[str] | None) -> str:
    """Run the benchmark on n_threads (0: defaults); returns the Markdown report."""
    pause = args.pause if args.pause is not None else (0.0 if n_threads == 1 else 0.2)
    settle = (args.settle if args.settle is not None else 0.1) if pause else 0.0
    with threads(n_threads):
        machine = machine_description(args.torch_device)
        rows = run(args.repeats, args.warmup, only, args.torch_device, n_threads == 1,
                   args.block, pause, settle)
    label = "torch CPU" if args.torch_device == "cpu" else f"torch {args.torch_device}"
    flag = f" --threads {n_threads}" if n_threads else ""
    header = (f"Measured {_dt.date.today().isoformat()} with `python -m benchmarks "
              f"--repeats {args.repeats}{flag}`"
              f"{'' if n_threads else ' (each library on its default threads)'}.\n\n"
              f"Machine: {machine}.\n\nMedian time of one training step (forward, loss, "
              "backward, SGD-momentum update); the engines alternate in blocks of "
              f"{args.block} steps{f' with {pause} s pauses' if pause else ''}"
              f"{f', each block after {settle} s of untimed steps' if settle else ''}, from the "
              "same weights and data.\n")
    if args.note:
        header += f"\nNote: {args.note}\n"
    return header + "\n" + table(rows, label) + "\n"


def write_readme(text_default: str, text_one: str, readme: Path = README,
                 note: str = "") -> None:
    """Replace the README's tables between <!-- benchmark:start --> and :end -->."""
    def body(text: str) -> str:
        return text.rsplit("\n\n", 1)[1].strip()  # the table only

    machine = re.search(r"Machine: (.*)\.\n", text_default).group(1)
    block = (
        "<!-- benchmark:start -->\n"
        "With each library's default threads (`python -m benchmarks`), what a learner runs:\n\n"
        f"{body(text_default)}\n\n"
        "Both engines on one thread (`python -m benchmarks --threads 1`), the engines "
        "themselves:\n\n"
        f"{body(text_one)}\n\n"
        f"Machine (default threads; the second table pins all three to one thread): "
        f"{machine}. Median times of steady training steps, the engines alternating in "
        "blocks from the same weights and data (the last column shows they start from the "
        "same loss). "
        "Regenerate both tables with `python -m benchmarks --write-readme`; full output: "
        "[benchmarks/results.md](benchmarks/results.md), "
        "[benchmarks/results-1thread.md](benchmarks/results-1thread.md)."
        + (f" Note: {note}" if note else "") + "\n<!-- benchmark:end -->"
    )
    text = readme.read_text(encoding="utf-8")
    new, count = re.subn(r"<!-- benchmark:start -->.*?<!-- benchmark:end -->",
                         lambda _: block, text, flags=re.S)
    if count != 1:
        raise SystemExit(f"{readme}: expected one benchmark:start/end block, found {count}")
    readme.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=40, help="timed steps per engine")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--block", type=int, default=5,
                        help="steps of one engine before switching to the other")
    parser.add_argument("--settle", type=float, default=None,
                        help="seconds of untimed steps after each pause (default 0.1): the "
                             "first steps after a pause run while the engine's threads and "
                             "cores wake up, which a training loop's steady state does not see")
    parser.add_argument("--pause", type=float, default=None,
                        help="seconds between blocks (default 0.2, or 0 with --threads 1)")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--output", default=None,
                        help="Markdown file to write ('-' for none; default "
                             "benchmarks/results.md, or results-1thread.md with --threads 1)")
    parser.add_argument("--torch-device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for numpy's BLAS, dlbd_lib and torch; 0 keeps each "
                             "library's default")
    parser.add_argument("--note", default="",
                        help="a sentence added to the results (e.g. how busy the machine was)")
    parser.add_argument("--write-readme", action="store_true",
                        help="measure default threads and one thread, write both results "
                             "files and the README tables")
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s] or None
    if any(os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")):
        print("note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set and may slow numpy; "
              "users run without them: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
              "python -m benchmarks ...\n", file=sys.stderr)
    runs = [0, 1] if args.write_readme else [args.threads]
    texts = {}
    for n in runs:
        texts[n] = measure(args, n, only)
        print(texts[n])
        out = args.output if not args.write_readme else None
        out = out or str(HERE / ("results-1thread.md" if n == 1 else "results.md"))
        if out != "-":
            Path(out).write_text("# Benchmark: dlbd_lib vs PyTorch\n\n" + texts[n],
                                 encoding="utf-8")
            print(f"written to {out}\n")
    if args.write_readme:
        write_readme(texts[0], texts[1], note=args.note)
        print(f"README tables updated: {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
