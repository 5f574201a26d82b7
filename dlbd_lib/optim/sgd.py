"""Stochastic gradient descent: momentum, dampening, Nesterov, weight decay (torch's rule)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from dlbd_lib import _kernels
from dlbd_lib._jit import fits, kernel
from dlbd_lib.optim.optimizer import Optimizer, ParamsT, blockwise

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, exactly as `torch.optim.SGD`.

    For each parameter x with gradient g (negated when maximize=True), at step t:
        g <- g + weight_decay * x
        b <- g  (first step),  b <- momentum * b + (1 - dampening) * g  (later steps)
        g <- g + momentum * b  (nesterov)  or  g <- b  (plain momentum)
        x <- x - lr * g
    With momentum=0 the buffer is skipped and the rule is plain x <- x - lr * g.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any]) -> None:
        if options["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {options['lr']}")
        if options["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {options['momentum']}")
        if options["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']}")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening, got "
                f"momentum={options['momentum']} and dampening={options['dampening']}"
            )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one SGD update to every parameter whose .grad is not None.

        closure: optional function that recomputes the loss (with gradients) and returns it.
        """
        loss = None if closure is None else self._run_closure(closure)
        state = self.state
        for group in self.param_groups:
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p, x, g in self._params_with_grad(group):
                if maximize:
                    g = -g
                if weight_decay != 0:
                    g = g + weight_decay * x  # a new array: p.grad itself is never changed
                tmp = self._buffer(x)
                if momentum == 0:
                    blockwise(partial(_plain, lr), x, g, tmp)
                else:
                    s = state[p]
                    buf = s.get("momentum_buffer")
                    if buf is None:  # first step: b <- g
                        buf = s["momentum_buffer"] = g.copy()
                        blockwise(partial(_with_buffer, lr, momentum, 0.0, nesterov, False),
                                  x, g, buf, tmp)
                    elif dampening or nesterov or not _one_pass(x, g, buf, momentum, lr):
                        blockwise(partial(_with_buffer, lr, momentum, dampening, nesterov,
                                          True), x, g, buf, tmp)
                p._bump_version()
        return loss


def _one_pass(x: np.ndarray, g: np.ndarray, buf: np.ndarray, momentum: float,
              lr: float) -> bool:
    """The momentum update as one compiled pass (dlbd_lib._jit), when it can run: numba
    there, big contiguous arrays of one dtype. True when it ran."""
    if x.size < 4096 or not (x.dtype == g.dtype == buf.dtype) or not fits(x, g, buf):
        return False
    k = kernel(_kernels.sgd_momentum, x.dtype)
    if k is None:
        return False
    k(x.reshape(-1), g.reshape(-1), buf.reshape(-1), x.dtype.type(momentum),
      x.dtype.type(-lr))
    return True


def _plain(lr: float, x: np.ndarray, g: np.ndarray, tmp: np.ndarray) -> None:
    """x <- x - lr * g, in place (tmp: scratch of x's shape)."""
    np.multiply(g, -lr, out=tmp)
    x += tmp


def _with_buffer(lr: float, momentum: float, dampening: float, nesterov: bool, accumulate: bool,
                 x: np.ndarray, g: np.ndarray, buf: np.ndarray, tmp: np.ndarray) -> None:
    """b <- momentum * b + (1 - dampening) * g (if accumulate), then x <- x - lr * (g +
    momentum * b if nesterov else b), in place, in torch's order of operations."""
    if accumulate:
        buf *= momentum
        if dampening == 0:
            buf += g
        else:
            np.multiply(g, 1 - dampening, out=tmp)
            buf += tmp
    if nesterov:
        np.multiply(buf, momentum, out=tmp)
        g = np.add(g, tmp, out=tmp)
    else:
        g = buf
    np.multiply(g, -lr, out=tmp)
    x += tmp
