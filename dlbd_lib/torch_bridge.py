"""Move tensors and weights between dlbd_lib and PyTorch, and compare the two engines.

torch is imported only when a function here is called, so dlbd_lib itself never needs it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlbd_lib.errors import ShapeError, fmt_shape
from dlbd_lib.nn.module import Module, to_numpy
from dlbd_lib.tensor import Tensor

__all__ = [
    "to_torch", "from_torch", "state_dict_to_torch", "state_dict_from_torch",
    "copy_weights", "compare_outputs", "compare_modules", "ParityReport",
]


def _torch() -> Any:
    import torch

    return torch


def to_torch(x: Any, requires_grad: bool | None = None, device: Any = None) -> Any:
    """A torch tensor with the same values and dtype (a copy); keeps requires_grad by default."""
    torch = _torch()
    arr = to_numpy(x)
    t = torch.from_numpy(np.array(arr, copy=True))
    if device is not None:
        t = t.to(device)
    rg = x.requires_grad if requires_grad is None and isinstance(x, Tensor) else requires_grad
    if rg:
        t.requires_grad_(True)
    return t


def from_torch(t: Any, requires_grad: bool | None = None) -> Tensor:
    """A dlbd Tensor with the same values and dtype (a copy, moved to the CPU)."""
    arr = np.array(t.detach().cpu().numpy(), copy=True)
    rg = bool(t.requires_grad) if requires_grad is None else requires_grad
    return Tensor(arr, requires_grad=rg and arr.dtype.kind == "f")


def state_dict_to_torch(state_dict: dict) -> OrderedDict:
    """A dlbd state_dict (name -> array) as a torch state_dict (name -> tensor)."""
    torch = _torch()
    return OrderedDict((k, torch.from_numpy(np.array(to_numpy(v), copy=True)))
                       for k, v in state_dict.items())


def state_dict_from_torch(state_dict: dict) -> OrderedDict:
    """A torch state_dict as numpy arrays, ready for Module.load_state_dict."""
    return OrderedDict((k, np.array(to_numpy(v), copy=True)) for k, v in state_dict.items())


def copy_weights(src: Any, dst: Any) -> Any:
    """Copy every parameter and buffer from src to dst; either may be dlbd or torch.

    Names and shapes must match (they do when both models are built the same way).
    Returns dst.
    """
    sd = src.state_dict()
    if isinstance(dst, Module):
        dst.load_state_dict(state_dict_from_torch(sd) if not isinstance(src, Module) else sd)
    else:
        torch = _torch()
        target = dst.state_dict()
        converted = OrderedDict()
        for k, v in sd.items():
            arr = np.array(to_numpy(v), copy=True)
            if k in target and tuple(target[k].shape) != arr.shape:
                raise ShapeError(
                    f"copy_weights: {k!r} has shape {fmt_shape(arr.shape)} in the source "
                    f"but {fmt_shape(tuple(target[k].shape))} in the torch model"
                )
            tv = torch.from_numpy(arr)
            if k in target:
                tv = tv.to(dtype=target[k].dtype, device=target[k].device)
            converted[k] = tv
        dst.load_state_dict(converted)
    return dst


class ParityReport(dict):
    """Largest absolute difference per compared quantity; `ok` says all were within tolerance."""

    ok: bool = True

    def __repr__(self) -> str:
        rows = [f"  {k:<28} max|diff| = {v:.3e}" for k, v in self.items()]
        return ("ParityReport(ok=" + str(self.ok) + ")\n" + "\n".join(rows)).rstrip()


def compare_outputs(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4,
                    name: str = "output") -> float:
    """Raise AssertionError naming `name` unless a and b are close; returns max |a - b|."""
    x, y = np.asarray(to_numpy(a), np.float64), np.asarray(to_numpy(b), np.float64)
    if x.shape != y.shape:
        raise ShapeError(f"{name}: shapes differ, {fmt_shape(x.shape)} vs {fmt_shape(y.shape)}")
    diff = float(np.max(np.abs(x - y))) if x.size else 0.0
    if not np.allclose(x, y, atol=atol, rtol=rtol):
        raise AssertionError(f"{name}: engines disagree, max |diff| = {diff:.3e}")
    return diff


def compare_modules(dlbd_module: Module, torch_module: Any, inputs: Sequence[Any],
                    loss_fn: Callable[[Any], Any] | None = None, atol: float = 1e-5,
                    rtol: float = 1e-4, copy: bool = True) -> ParityReport:
    """Run the same inputs through both models and compare outputs and gradients.

    Copies torch's weights into the dlbd module first (copy=True). loss_fn maps an output
    to a scalar in either engine (default: sum). Compares the output, every input's
    gradient and every parameter's gradient; raises AssertionError on a mismatch.
    """
    if copy:
        copy_weights(torch_module, dlbd_module)
    d_in = [Tensor(np.array(to_numpy(x), copy=True), requires_grad=to_numpy(x).dtype.kind == "f")
            for x in inputs]
    t_in = [to_torch(x) for x in d_in]
    d_out, t_out = dlbd_module(*d_in), torch_module(*t_in)
    if isinstance(d_out, tuple):
        d_out, t_out = d_out[0], t_out[0]
    report = ParityReport()
    report["output"] = compare_outputs(d_out, t_out, atol, rtol, "output")
    fn = loss_fn or (lambda out: out.sum())
    dlbd_module.zero_grad()
    torch_module.zero_grad()
    fn(d_out).backward()
    fn(t_out).backward()
    for i, (d, t) in enumerate(zip(d_in, t_in)):
        if d.requires_grad and t.grad is not None:
            report[f"input[{i}].grad"] = compare_outputs(d.grad, t.grad, atol, rtol,
                                                         f"gradient of input {i}")
    t_params = dict(torch_module.named_parameters())
    for name, p in dlbd_module.named_parameters():
        tp = t_params.get(name)
        if tp is not None and tp.grad is not None:
            report[name + ".grad"] = compare_outputs(p.grad, tp.grad, atol, rtol,
                                                     f"gradient of {name}")
    return report
