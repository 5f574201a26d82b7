"""AdamW: Adam with decoupled weight decay, exactly as `torch.optim.AdamW`."""

from __future__ import annotations

from dlbd_lib.optim.adam import Adam
from dlbd_lib.optim.optimizer import ParamsT

__all__ = ["AdamW"]


class AdamW(Adam):
    """Adam whose weight decay shrinks the parameters directly instead of adding to the gradient.

    Each step first applies x <- x * (1 - lr * weight_decay), then the Adam update of `Adam`
    (the decay never enters the moments m and v). Default weight_decay is 1e-2, as in torch.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad,
            maximize=maximize, decoupled_weight_decay=True,
        )
