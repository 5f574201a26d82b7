"""Helper for the nn tests: run a dlbd layer and the equivalent torch layer on the same
input with the same weights, and compare outputs, input gradients and parameter gradients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from dlbd_lib import Tensor


def assert_module_parity(d_mod: Any, t_mod: torch.nn.Module, x: np.ndarray, *,
                         copy: bool = True, grad_input: bool = True, rtol: float = 1e-4,
                         atol: float = 1e-5, seed: int = 1) -> Tensor:
    """Copy torch's weights into d_mod (copy=True), run both on x, backward a random u.

    Checks the outputs, x's gradient and every parameter's gradient (by name). Returns
    the dlbd output.
    """
    if copy:
        d_mod.load_state_dict(t_mod.state_dict())
    xd = Tensor(x.copy(), requires_grad=grad_input and x.dtype.kind == "f")
    xt = torch.tensor(x.copy(), requires_grad=grad_input and x.dtype.kind == "f")
    out_d, out_t = d_mod(xd), t_mod(xt)
    assert out_d.shape == tuple(out_t.shape), (out_d.shape, tuple(out_t.shape))
    assert out_d.dtype == x.dtype or x.dtype.kind != "f", (out_d.dtype, x.dtype)
    np.testing.assert_allclose(out_d.data, out_t.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg="outputs differ")
    u = np.random.default_rng(seed).standard_normal(out_d.shape).astype(out_d.dtype)
    out_d.backward(u)
    out_t.backward(torch.from_numpy(u.copy()))
    if xd.requires_grad:
        np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg="input gradients differ")
    t_params = dict(t_mod.named_parameters())
    d_params = dict(d_mod.named_parameters())
    assert list(d_params) == list(t_params)
    for name, p in d_params.items():
        tp = t_params[name]
        assert p.shape == tuple(tp.shape), name
        if tp.grad is None:
            assert p.grad is None or not np.any(p.grad), name
            continue
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name} differs")
    return out_d


def assert_loss_parity(d_mod: Any, t_mod: torch.nn.Module, x: np.ndarray,
                       y: np.ndarray) -> None:
    """Run a dlbd loss module and torch's on (x, y); compare the losses and x's gradient
    (of the summed loss)."""
    xd, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_d, out_t = d_mod(xd, y), t_mod(xt, torch.tensor(y))
    np.testing.assert_allclose(out_d.data, out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    out_d.sum().backward()
    out_t.sum().backward()
    np.testing.assert_allclose(xd.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-6)


def single_torch_thread() -> Iterator[None]:
    """Run torch on one thread, then restore: its thread pool can stall for milliseconds
    per op on a busy 2-core machine, which makes small parity tests slow."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
