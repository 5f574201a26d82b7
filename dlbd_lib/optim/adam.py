"""Adam (with optional AMSGrad and decoupled weight decay), exactly as `torch.optim.Adam`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from dlbd_lib.optim.optimizer import Optimizer, ParamsT, blockwise

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam: per-coordinate steps from bias-corrected running moments of the gradient.

    For each parameter x with gradient g (negated when maximize=True), at step t = 1, 2, ...:
        g <- g + weight_decay * x      (or x <- x * (1 - lr * weight_decay) when decoupled)
        m <- m + (1 - beta1) * (g - m);   v <- beta2 * v + (1 - beta2) * g * g
        v_hat <- max(v_hat, v) with amsgrad, else v
        x <- x - (lr / (1 - beta1**t)) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any]) -> None:
        betas = options["betas"]
        if not 0.0 <= options["lr"]:
            raise ValueError(f"Invalid learning rate: {options['lr']}")
        if not 0.0 <= options["eps"]:
            raise ValueError(f"Invalid epsilon value: {options['eps']}")
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= options["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']}")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one Adam update to every parameter whose .grad is not None.

        closure: optional function that recomputes the loss (with gradients) and returns it.
        """
        loss = None if closure is None else self._run_closure(closure)
        state = self.state
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            decoupled = group["decoupled_weight_decay"]
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            for p, x, g in self._params_with_grad(group):
                s = state[p]
                if not s:
                    s["step"] = 0.0
                    s["exp_avg"] = np.zeros_like(x)
                    s["exp_avg_sq"] = np.zeros_like(x)
                    if amsgrad:
                        s["max_exp_avg_sq"] = np.zeros_like(x)
                step = s["step"] = s["step"] + 1.0
                m, v = s["exp_avg"], s["exp_avg_sq"]
                if maximize:
                    g = -g
                shrink = 1.0
                if weight_decay != 0:
                    if decoupled:
                        shrink = 1 - lr * weight_decay
                    else:
                        g = g + weight_decay * x
                arrays = [x, g, m, v, self._buffer(x), self._buffer(x, 1)]
                if amsgrad:
                    arrays.append(s["max_exp_avg_sq"])
                rule = partial(_adam_update, shrink, beta1, beta2, eps, lr / (1 - beta1**step),
                               (1 - beta2**step) ** 0.5)
                blockwise(rule, *arrays)
                p._bump_version()
        return loss


def _adam_update(shrink: float, beta1: float, beta2: float, eps: float, step_size: float,
                 bias_correction2_sqrt: float, x: np.ndarray, g: np.ndarray, m: np.ndarray,
                 v: np.ndarray, tmp: np.ndarray, tmp2: np.ndarray,
                 v_max: np.ndarray | None = None) -> None:
    """One Adam update in place, in torch's order of operations: x <- shrink * x (decoupled
    weight decay), m <- lerp(m, g, 1 - beta1), v <- beta2 v + (1 - beta2) g^2, v_max <-
    max(v_max, v) (amsgrad), x <- x - step_size * m / (sqrt(v or v_max) / bc2 + eps)."""
    if shrink != 1.0:
        x *= shrink
    _lerp_(m, g, 1 - beta1, tmp)
    np.multiply(g, 1 - beta2, out=tmp)
    tmp *= g
    v *= beta2
    v += tmp
    if v_max is not None:
        v = np.maximum(v_max, v, out=v_max)
    denom = np.sqrt(v, out=tmp)
    denom /= bias_correction2_sqrt
    denom += eps
    np.divide(m, denom, out=tmp2)
    tmp2 *= -step_size
    x += tmp2


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """start <- start + weight * (end - start), in place, as torch's lerp_ computes it."""
    w = start.dtype.type(weight)
    np.subtract(end, start, out=tmp)
    if w < 0.5:
        tmp *= w
        start += tmp
    else:  # torch switches form so that weight=1 gives `end` exactly
        tmp *= 1 - w
        np.subtract(end, tmp, out=start)
