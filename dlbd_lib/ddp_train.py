"""Data-parallel training over partitioned Parquet with torch.distributed; run with torchrun.

    torchrun --nproc_per_node=2 -m dlbd_lib.ddp_train --data DIR_OR_URL --out model.pt
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 --rdzv_backend=c10d \\
             --rdzv_endpoint=node0:29500 --rdzv_id=job42 -m dlbd_lib.ddp_train --data s3://b/t

Each rank streams its own partitions (`PartitionedDataset(...).torch(rank, world_size)`),
padded so that every rank takes the same number of steps: with unequal shards a rank
that ran out would stop joining the gradient all-reduce and the others would wait for
ever. Every collective also has a timeout, so a lost rank ends the job with an error
instead of a hang. The backend is nccl (one GPU per process, `torch.cuda.set_device`) when
CUDA is there, gloo otherwise. Rank 0 writes the weights and a JSON summary (steps per
rank, rows, seconds) next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from dlbd_lib.data.partitioned import PartitionedDataset

__all__ = ["main", "pick_backend"]


def pick_backend() -> tuple[str, torch.device]:
    """("nccl", this process's GPU) with CUDA, ("gloo", cpu) otherwise."""
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)  # before any CUDA work: one GPU per process
        return "nccl", torch.device("cuda", local_rank)
    return "gloo", torch.device("cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="directory or fsspec URL of Parquet files")
    p.add_argument("--label", default="y")
    p.add_argument("--task", choices=["logistic", "linear"], default="logistic")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1024, help="rows per rank per step")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0, help="partition order and initial weights")
    p.add_argument("--even", choices=["pad", "truncate"], default="pad")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers per rank")
    p.add_argument("--init", help="a state_dict to start from (default: seeded init)")
    p.add_argument("--out", help="where rank 0 saves the trained state_dict")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds any collective may wait before the job fails")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Train; return (and on rank 0 write to OUT.json) the run's summary."""
    args = parse_args(argv)
    backend, device = pick_backend()
    # reads RANK, WORLD_SIZE, MASTER_ADDR/PORT that torchrun sets
    dist.init_process_group(backend, timeout=timedelta(seconds=args.timeout))
    rank, world = dist.get_rank(), dist.get_world_size()
    data = PartitionedDataset(args.data, label=args.label, batch_size=args.batch_size,
                              shuffle_partitions=True, shuffle_rows=True, seed=args.seed)
    shards = data.torch(rank, world, even=args.even)
    loader = torch.utils.data.DataLoader(shards, batch_size=None,
                                         num_workers=args.num_workers)
    torch.manual_seed(args.seed)
    net = torch.nn.Linear(len(data.columns), 1)
    if args.init:
        net.load_state_dict(torch.load(args.init))  # the same start on every rank
    net = net.to(device)
    model = torch.nn.parallel.DistributedDataParallel(
        net, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = (torch.nn.functional.binary_cross_entropy_with_logits
               if args.task == "logistic" else torch.nn.functional.mse_loss)
    steps = rows = 0
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        shards.set_epoch(epoch)
        for X, y in loader:
            X, y = X.to(device), y.to(device=device, dtype=torch.float32)
            loss = loss_fn(model(X).squeeze(1), y)
            opt.zero_grad()
            loss.backward()  # + the all-reduce that averages the gradients over ranks
            opt.step()
            steps += 1
            rows += len(X)
    seconds = time.perf_counter() - t0
    everyone = [None] * world
    dist.all_gather_object(everyone, {"steps": steps, "rows": rows, "seconds": seconds})
    summary = {"backend": backend, "world_size": world,
               "steps_per_rank": [e["steps"] for e in everyone],
               "rows_per_rank": [e["rows"] for e in everyone],
               "seconds": max(e["seconds"] for e in everyone),
               "last_loss": float(loss.item()) if steps else None}
    if rank == 0 and args.out:
        torch.save({k: v.cpu() for k, v in net.state_dict().items()}, args.out)
        Path(args.out).with_suffix(".json").write_text(json.dumps(summary, indent=1))
    dist.barrier()  # rank 0 has written its files before anyone leaves
    dist.destroy_process_group()
    return summary


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown: with torch and pyarrow's thread pools both loaded,
    # it aborted a rank now and then ("terminate called without an active exception"),
    # failing a job that had finished. Everything is written and closed by now.
    os._exit(0)
