"""Learning-rate schedulers, with `torch.optim.lr_scheduler`'s names and formulas.

A scheduler rewrites `group["lr"]` of its optimizer's param groups each time `step()` is
called (once per epoch, or per batch for OneCycleLR), after `optimizer.step()`. The
formulas are torch's, including its recursive (chainable) forms, so an lr sequence matches
torch's value for value. The momentum schedules (`LambdaMomentum`) are dlbd's own addition.
"""

from dlbd_lib.optim.lr_scheduler.annealing import CosineAnnealingLR, OneCycleLR
from dlbd_lib.optim.lr_scheduler.base import LRScheduler
from dlbd_lib.optim.lr_scheduler.chained import ChainedScheduler
from dlbd_lib.optim.lr_scheduler.plateau import ReduceLROnPlateau
from dlbd_lib.optim.lr_scheduler.step import (
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    StepLR,
)
from dlbd_lib.optim.momentum_scheduler import LambdaMomentum, MomentumScheduler

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "LinearLR",
    "CosineAnnealingLR",
    "ChainedScheduler",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "MomentumScheduler",
    "LambdaMomentum",
]
