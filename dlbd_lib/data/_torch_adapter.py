"""torch.utils.data adapters for dlbd_lib.data; imported only when one is asked for.

Kept in its own module (not a class built inside a function) so that DataLoader workers
started with "spawn" (macOS, Windows) can pickle it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

__all__ = ["TorchPartitionedDataset"]


class TorchPartitionedDataset(IterableDataset):
    """A PartitionedDataset as a torch IterableDataset, sharded over workers and ranks.

    Shard = rank * num_workers + worker id, out of world_size * num_workers: each
    partition goes to exactly one worker of one process. Yields (X, y) torch tensors
    (from_numpy, no copy), already batched: use DataLoader(..., batch_size=None).
    With world_size > 1, `even` ("pad" or "truncate") gives every shard the same number
    of batches, so every rank takes the same number of steps.
    """

    def __init__(self, source: Any, rank: int = 0, world_size: int = 1,
                 even: str | None = "pad") -> None:
        super().__init__()
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        if even not in (None, "pad", "truncate"):
            raise ValueError(f"even must be None, 'pad' or 'truncate', got {even!r}")
        self.source = source
        self.rank = rank
        self.world_size = world_size
        self.even = even

    def set_epoch(self, epoch: int) -> None:
        """Use epoch `epoch`'s partition order (workers get a fresh copy each epoch)."""
        self.source.set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        shard = self.rank * num_workers + worker
        num_shards = self.world_size * num_workers
        even = self.even if self.world_size > 1 else None
        for batch in self.source.iter_shard(shard, num_shards, even=even):
            if isinstance(batch, tuple):
                yield tuple(torch.from_numpy(np.asarray(b)) for b in batch)
            else:
                yield torch.from_numpy(np.asarray(batch))
