"""Time one forward + backward of small normalisation layers in dlbd_lib and in PyTorch.

    python -m benchmarks.norm_layers [--shapes 32x64 64x256 8x16x128] [--repeats 31]

One thread for both engines; the calls are interleaved (dlbd, torch, dlbd, ...) and each
number is the median over repeats of the mean over 200 calls, in CPU time of this process
(time.process_time), which a busy shared machine distorts less than wall-clock time.
Linear of the same width is printed as a reference point.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import dlbd_lib.nn as dnn  # noqa: E402
from dlbd_lib import Tensor  # noqa: E402


def _dlbd_step(module: dnn.Module, x: np.ndarray, g: np.ndarray) -> None:
    module(Tensor(x, requires_grad=True)).backward(g)


def _torch_step(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> None:
    module(x.detach().requires_grad_()).backward(g)


def measure(shape: tuple, repeats: int = 31, calls: int = 200) -> dict[str, float]:
    """Median microseconds per forward + backward for each layer and engine at `shape`."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    k, c = shape[-1], shape[1]
    pairs = {"LayerNorm": (dnn.LayerNorm(k), torch.nn.LayerNorm(k)),
             "Linear": (dnn.Linear(k, k), torch.nn.Linear(k, k))}
    if len(shape) > 2 and c % 4 == 0:
        pairs["GroupNorm(4)"] = (dnn.GroupNorm(4, c), torch.nn.GroupNorm(4, c))
    steps = {}
    for name, (d, t) in pairs.items():
        steps[f"{name} dlbd"] = lambda d=d: _dlbd_step(d, x, g)
        steps[f"{name} torch"] = lambda t=t: _torch_step(t, xt, gt)
    for f in steps.values():  # warm up
        for _ in range(30):
            f()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for key, f in steps.items():
            t0 = time.process_time()
            for _ in range(calls):
                f()
            times[key].append((time.process_time() - t0) / calls * 1e6)
    return {k: float(np.median(v)) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["32x64", "64x256", "8x16x128"])
    parser.add_argument("--repeats", type=int, default=31)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| input | layer | dlbd_lib (us) | torch (us) | ratio dlbd/torch |")
    print("|---|---|---:|---:|---:|")
    for s in args.shapes:
        shape = tuple(int(v) for v in s.split("x"))
        med = measure(shape, args.repeats)
        for name in dict.fromkeys(k.rsplit(" ", 1)[0] for k in med):
            d, t = med[f"{name} dlbd"], med[f"{name} torch"]
            print(f"| {shape} | {name} | {d:.1f} | {t:.1f} | {d / t:.2f} |")
    print(f"\nload average: {os.getloadavg()[0]:.1f} (1 min)")


if __name__ == "__main__":
    main()
