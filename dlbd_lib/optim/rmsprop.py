"""RMSprop (optionally centered, with momentum), exactly as `torch.optim.RMSprop`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from dlbd_lib.optim.adam import _lerp_
from dlbd_lib.optim.optimizer import Optimizer, ParamsT, blockwise

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: divide each gradient coordinate by a running root-mean-square of its history.

    For each parameter x with gradient g (negated when maximize=True):
        g <- g + weight_decay * x;   v <- alpha * v + (1 - alpha) * g * g
        d <- sqrt(v - a * a) + eps with a <- a + (1 - alpha) * (g - a)  (centered)
        d <- sqrt(v) + eps  (otherwise)
        b <- momentum * b + g / d;  x <- x - lr * b   (momentum > 0),  else x <- x - lr * g / d
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any]) -> None:
        if not 0.0 <= options["lr"]:
            raise ValueError(f"Invalid learning rate: {options['lr']}")
        if not 0.0 <= options["eps"]:
            raise ValueError(f"Invalid epsilon value: {options['eps']}")
        if not 0.0 <= options["momentum"]:
            raise ValueError(f"Invalid momentum value: {options['momentum']}")
        if not 0.0 <= options["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']}")
        if not 0.0 <= options["alpha"]:
            raise ValueError(f"Invalid alpha value: {options['alpha']}")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one RMSprop update to every parameter whose .grad is not None.

        closure: optional function that recomputes the loss (with gradients) and returns it.
        """
        loss = None if closure is None else self._run_closure(closure)
        state = self.state
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = float(group["alpha"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            momentum = float(group["momentum"])
            centered = group["centered"]
            maximize = group["maximize"]
            for p, x, g in self._params_with_grad(group):
                s = state[p]
                if not s:
                    s["step"] = 0.0
                    s["square_avg"] = np.zeros_like(x)
                s["step"] += 1.0
                if maximize:
                    g = -g
                if weight_decay != 0:
                    g = g + weight_decay * x
                # buffers start at zero, on the first step or when switched on later
                if momentum > 0 and s.get("momentum_buffer") is None:
                    s["momentum_buffer"] = np.zeros_like(x)
                if centered and s.get("grad_avg") is None:
                    s["grad_avg"] = np.zeros_like(x)
                arrays = [x, g, s["square_avg"], self._buffer(x), self._buffer(x, 1)]
                arrays += [s["grad_avg"] if centered else None,
                           s["momentum_buffer"] if momentum > 0 else None]
                blockwise(partial(_rmsprop_update, lr, alpha, eps, momentum), *arrays)
                p._bump_version()
        return loss


def _rmsprop_update(lr: float, alpha: float, eps: float, momentum: float, x: np.ndarray,
                    g: np.ndarray, v: np.ndarray, tmp: np.ndarray, avg: np.ndarray,
                    a: np.ndarray | None, buf: np.ndarray | None) -> None:
    """One RMSprop update in place, in torch's order of operations: v <- alpha v +
    (1 - alpha) g^2, a <- lerp(a, g, 1 - alpha) (centered), avg <- sqrt(v - a^2 or v) + eps,
    b <- momentum b + g / avg (momentum), x <- x - lr * (b or g / avg)."""
    np.multiply(g, 1 - alpha, out=tmp)
    tmp *= g
    v *= alpha
    v += tmp
    if a is not None:
        _lerp_(a, g, 1 - alpha, tmp)
        np.multiply(a, a, out=tmp)
        np.subtract(v, tmp, out=avg)
        np.sqrt(avg, out=avg)
    else:
        np.sqrt(v, out=avg)
    avg += eps
    if buf is not None:
        buf *= momentum
        np.divide(g, avg, out=tmp)
        buf += tmp
        np.multiply(buf, -lr, out=tmp)
    else:
        np.divide(g, avg, out=tmp)
        tmp *= -lr
    x += tmp
