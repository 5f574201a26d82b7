"""Train on a Parquet table larger than the memory the process may use, with both engines.

    python -m benchmarks.out_of_core                       # ~8 GB of data under a 1 GiB cap
    python -m benchmarks.out_of_core --size-gb 0.5 2 8 --json benchmarks/out_of_core.json

For each size: write a partitioned table with a known ground truth (logistic task,
P(y=1) = sigmoid(x @ w + b), 16 float32 features), then train a logistic regression over
it by streaming (`PartitionedDataset`, one epoch, batch 4096) with dlbd_lib and with
PyTorch. Every step runs in a child process whose data memory is capped with
RLIMIT_DATA (heap and anonymous mappings, where numpy and Arrow buffers live: the kernel
refuses any allocation past the cap, so it is enforced, not just observed; RLIMIT_AS would
also count the ~0.75 GiB of libraries that importing torch maps); each child also reports
its peak resident set size (ru_maxrss). A last
child tries to load the whole table at once under the same cap and must fail, which shows
that the cap is far below the data. The held-out partitions measure accuracy against
the true weights' accuracy (the best any model can do). The data are deleted at the end
unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_FEATURES = 16
BYTES_PER_ROW = 76.5  # measured: 16 float32 columns + an int64 0/1 label, in Parquet
ROWS_PER_PARTITION = 1_000_000


def _cap(limit_bytes: int):  # noqa: ANN202 (a preexec_fn)
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
    return apply


def _child(args: list[str], limit_bytes: int) -> dict:
    """Run this module's child mode under the cap; its JSON result (or the failure)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
           "ARROW_DEFAULT_MEMORY_POOL": "system"}
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "benchmarks.out_of_core", "--child", *args],
                         env=env, capture_output=True, text=True, preexec_fn=_cap(limit_bytes),
                         cwd=Path(__file__).resolve().parents[1])
    seconds = time.perf_counter() - t0
    if run.returncode != 0:
        return {"ok": False, "seconds": seconds, "error": run.stderr.strip()[-400:]}
    return {"ok": True, "wall_seconds": seconds, **json.loads(run.stdout.splitlines()[-1])}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_write(directory: str, n_rows: int, seed: int) -> dict:
    from dlbd_lib.data import write_partitioned_parquet

    n_parts = max(3, -(-n_rows // ROWS_PER_PARTITION))
    t0 = time.perf_counter()
    info = write_partitioned_parquet(directory, n_rows, n_parts, n_features=N_FEATURES,
                                     seed=seed, task="logistic")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": n_rows, "partitions": n_parts,
            "bytes": sum(p.stat().st_size for p in info.files),
            "weight": info.weight.tolist(), "bias": info.bias, "peak_rss_mib": _peak_rss_mib()}


def _split(directory: str) -> tuple[list[Path], list[Path]]:
    files = sorted(Path(directory).glob("*.parquet"))
    n_test = max(1, len(files) // 50)  # ~2% of the partitions, held out
    return files[:-n_test], files[-n_test:]


def child_train(directory: str, engine: str, batch_size: int, lr: float, weight: list[float],
                bias: float) -> dict:
    import numpy as np

    from dlbd_lib.data import PartitionedDataset

    train_files, test_files = _split(directory)
    data = PartitionedDataset(train_files, batch_size=batch_size, shuffle_partitions=True,
                              shuffle_rows=True, seed=0)
    if engine == "dlbd_lib":
        import dlbd_lib as dl
        import dlbd_lib.nn.functional as F

        dl.manual_seed(0)
        net = dl.nn.Linear(N_FEATURES, 1)
        opt = dl.optim.SGD(net.parameters(), lr=lr)

        def step(X: np.ndarray, y: np.ndarray) -> None:
            loss = F.binary_cross_entropy_with_logits(net(dl.Tensor(X)).reshape(-1),
                                                      dl.Tensor(y.astype(np.float32)))
            opt.zero_grad()
            loss.backward()
            opt.step()

        def params() -> tuple[np.ndarray, float]:
            return net.weight.data.ravel(), float(net.bias.data[0])
    else:
        import torch

        torch.set_num_threads(1)
        torch.manual_seed(0)
        tnet = torch.nn.Linear(N_FEATURES, 1)
        topt = torch.optim.SGD(tnet.parameters(), lr=lr)

        def step(X: np.ndarray, y: np.ndarray) -> None:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                tnet(torch.from_numpy(X)).squeeze(1), torch.from_numpy(y.astype(np.float32)))
            topt.zero_grad()
            loss.backward()
            topt.step()

        def params() -> tuple[np.ndarray, float]:
            return tnet.weight.detach().numpy().ravel(), float(tnet.bias.item())

    rows = 0
    t0 = time.perf_counter()
    for X, y in data:
        step(X, y)
        rows += len(X)
    seconds = time.perf_counter() - t0
    w, b = params()
    w_true = np.asarray(weight, dtype=np.float32)
    hits = best = n = 0
    for X, y in PartitionedDataset(test_files, batch_size=262_144):
        hits += int(np.sum((X @ w + b > 0) == (y == 1)))
        best += int(np.sum((X @ w_true + bias > 0) == (y == 1)))
        n += len(y)
    cos = float(w @ w_true / np.linalg.norm(w) / np.linalg.norm(w_true))
    return {"engine": engine, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "test_rows": n, "accuracy": hits / n, "true_weights_accuracy": best / n,
            "cosine_to_true_w": cos, "peak_rss_mib": _peak_rss_mib()}


def child_load_all(directory: str) -> dict:
    """Read the whole table into memory at once: under the cap this must fail."""
    import pyarrow.parquet as pq

    table = pq.read_table(directory)
    return {"rows": table.num_rows, "peak_rss_mib": _peak_rss_mib()}


def run_size(size_gb: float, root: Path, limit: int, args: argparse.Namespace) -> dict:
    n_rows = int(size_gb * 1e9 / BYTES_PER_ROW)
    directory = root / f"table-{size_gb:g}GB"
    print(f"\n== {size_gb:g} GB: {n_rows:,} rows", flush=True)
    write = _child(["write", str(directory), str(n_rows), str(args.seed)], limit)
    if not write["ok"]:
        raise SystemExit(f"writing failed: {write['error']}")
    print(f"wrote {write['bytes'] / 1e9:.2f} GB in {write['partitions']} partitions, "
          f"{write['seconds']:.0f} s (peak RSS {write['peak_rss_mib']:.0f} MiB)", flush=True)
    result = {"size_gb": size_gb, "write": {k: v for k, v in write.items()
                                            if k not in ("weight", "bias")}, "train": {}}
    truth = [json.dumps(write["weight"]), str(write["bias"])]
    for engine in args.engines:
        r = _child(["train", str(directory), engine, str(args.batch_size), str(args.lr),
                    *truth], limit)
        if not r["ok"]:
            raise SystemExit(f"{engine} failed under the cap: {r['error']}")
        result["train"][engine] = r
        print(f"{engine:9s} {r['rows']:,} rows in {r['seconds']:.0f} s = "
              f"{r['rows_per_s'] / 1e6:.2f} M rows/s, peak RSS {r['peak_rss_mib']:.0f} MiB, "
              f"test accuracy {r['accuracy']:.4f} (true weights {r['true_weights_accuracy']:.4f}"
              f"), cos(w, w_true) {r['cosine_to_true_w']:.4f}", flush=True)
    load = _child(["load_all", str(directory)], limit)
    result["load_all_fails_under_cap"] = not load["ok"]
    print("loading the whole table at once under the same cap: "
          + ("fails (out of memory)" if not load["ok"] else "succeeds (it fits at this size)"),
          flush=True)
    if not args.keep:
        shutil.rmtree(directory)
    return result


def plot_results(results: dict, path: str | Path | None = None):  # noqa: ANN201
    """Time and peak memory against data size, from a results dict (see --json).

    Returns the matplotlib figure; saves it to `path` when given.
    """
    import matplotlib.pyplot as plt

    sizes = sorted(results["sizes"], key=lambda r: r["size_gb"])
    gb = [r["write"]["bytes"] / 1e9 for r in sizes]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    ax_t.plot(gb, [r["write"]["seconds"] for r in sizes], "o-", color="C7",
              label="write (generate + Parquet)")
    for i, engine in enumerate(sizes[0]["train"]):
        ax_t.plot(gb, [r["train"][engine]["seconds"] for r in sizes], "o-", color=f"C{i}",
                  label=f"train 1 epoch, {engine}")
        ax_m.plot(gb, [r["train"][engine]["peak_rss_mib"] / 1024 for r in sizes], "o-",
                  color=f"C{i}", label=f"peak RSS, {engine}")
    ax_t.set(xlabel="data on disk (GB)", ylabel="seconds",
             title="Time grows about linearly with the data")
    ax_m.plot(gb, [g * 1e9 / 2**30 for g in gb], "--", color="gray", label="data size")
    ax_m.axhline(results["mem_limit_gib"], color="C3", ls=":",
                 label=f"cap ({results['cap'].split()[0]})")
    ax_m.set(xlabel="data on disk (GB)", ylabel="GiB",
             title="Memory stays flat under the cap")
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
    return fig


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-gb", type=float, nargs="+", default=[8.0],
                   help="data size(s) on disk, in GB (1e9 bytes)")
    p.add_argument("--mem-limit-gb", type=float, default=1.0,
                   help="RLIMIT_DATA of every child process, in GiB")
    p.add_argument("--dir", help="where to write the data (default: a temporary folder)")
    p.add_argument("--engines", nargs="+", default=["dlbd_lib", "torch"],
                   choices=["dlbd_lib", "torch"])
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the data")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--plot", nargs=2, metavar=("JSON", "PNG"),
                   help="only plot the results in JSON to PNG, run nothing")
    args = p.parse_args(argv)
    if args.plot:
        plot_results(json.loads(Path(args.plot[0]).read_text()), args.plot[1])
        return {}
    limit = int(args.mem_limit_gb * 2**30)
    root = Path(args.dir or tempfile.mkdtemp(prefix="dlbd-ooc-"))
    root.mkdir(parents=True, exist_ok=True)
    need = max(args.size_gb) * 1e9 * 1.1
    free = shutil.disk_usage(root).free
    if free < need:
        raise SystemExit(f"{root}: {free / 1e9:.1f} GB free, need about {need / 1e9:.1f} GB")
    print(f"memory cap per process (RLIMIT_DATA): {args.mem_limit_gb:g} GiB; data in {root}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    results = {"command": "python -m benchmarks.out_of_core " + " ".join(
                   sys.argv[1:] if argv is None else argv),
               "mem_limit_gib": args.mem_limit_gb, "cap": "RLIMIT_DATA per child process",
               "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
               "load_avg_start": os.getloadavg(), "sizes": []}
    try:
        for size in args.size_gb:
            results["sizes"].append(run_size(size, root, limit, args))
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    results["load_avg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"results written to {args.json}")
    return results


def child_main(argv: list[str]) -> None:
    mode, rest = argv[0], argv[1:]
    if mode == "write":
        out = child_write(rest[0], int(rest[1]), int(rest[2]))
    elif mode == "train":
        out = child_train(rest[0], rest[1], int(rest[2]), float(rest[3]), json.loads(rest[4]),
                          float(rest[5]))
    elif mode == "load_all":
        out = child_load_all(rest[0])
    else:
        raise SystemExit(f"unknown child mode {mode!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
