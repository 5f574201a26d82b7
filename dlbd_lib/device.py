"""Pick the best PyTorch device present: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["pick_device", "describe_device"]


def pick_device(prefer: str | None = None, verbose: bool = True) -> Any:
    """The torch.device every notebook uses: 'cuda' if present, else 'mps', else 'cpu'.

    prefer: force a device name (or set the DLBD_DEVICE environment variable), e.g. 'cpu'
    to compare timings. Prints the choice when verbose.
    """
    import torch

    name = prefer or os.environ.get("DLBD_DEVICE")
    if name is None:
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    device = torch.device(name)
    if verbose:
        print(f"PyTorch device: {describe_device(device)}")
    return device


def describe_device(device: Any) -> str:
    """A one-line description: the GPU's name, or the CPU's thread count."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'' if n == 1 else 's'})"
