"""Momentum schedules: dlbd's own addition (torch cycles momentum only inside OneCycleLR).

A momentum scheduler does for momentum what an LR scheduler does for the learning rate: at
each `step()` it writes a new value into every param group, into `group["momentum"]` for
SGD and RMSprop, and into `group["betas"][0]` (beta1) for Adam and AdamW. The classic use is
a momentum warm-up (start low while the gradients are large and noisy, then raise it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dlbd_lib.optim.optimizer import Optimizer

__all__ = ["MomentumScheduler", "LambdaMomentum"]


def momentum_key(optimizer: Optimizer, why: str) -> str:
    """'momentum' or 'betas': where this optimizer keeps its momentum (a ValueError if nowhere)."""
    if "momentum" in optimizer.defaults:
        return "momentum"
    if "betas" in optimizer.defaults:
        return "betas"
    raise ValueError(
        f"optimizer must support momentum or beta1 {why}; {type(optimizer).__name__} has "
        "neither a 'momentum' nor a 'betas' option"
    )


def get_momentum(group: dict[str, Any], key: str) -> float:
    """The momentum of one param group: group['momentum'], or beta1 for Adam-like groups."""
    return group["betas"][0] if key == "betas" else group["momentum"]


def set_momentum(group: dict[str, Any], key: str, value: float) -> None:
    """Write the momentum of one param group (beta1 keeps beta2 beside it)."""
    if key == "betas":
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


class MomentumScheduler:
    """Base class: sets each param group's momentum from `get_momentum()` at every `step()`.

    optimizer: an optimizer with a "momentum" option (SGD, RMSprop) or "betas" (Adam, AdamW).
    base_momentum: the value that schedules are relative to; by default each group's
    momentum when the first such scheduler was created (kept in the group as
    "initial_momentum", as LR schedulers keep "initial_lr").
    Like an LR scheduler, creating it applies the value for epoch 0, and `step()` is called
    once per epoch (or batch) after `optimizer.step()`.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        base_momentum: float | list[float] | None = None,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        self.key = momentum_key(optimizer, f"to be scheduled by {type(self).__name__}")
        groups = optimizer.param_groups
        if base_momentum is None:
            bases = [g.get("initial_momentum", get_momentum(g, self.key)) for g in groups]
        elif isinstance(base_momentum, (list, tuple)):
            if len(base_momentum) != len(groups):
                raise ValueError(
                    f"base_momentum must have the same length as optimizer.param_groups. "
                    f"base_momentum has {len(base_momentum)} values, param_groups has "
                    f"{len(groups)}."
                )
            bases = list(base_momentum)
        else:
            bases = [base_momentum] * len(groups)
        self.base_momentums = [float(b) for b in bases]
        self._check_bases()
        if base_momentum is None:  # remembered in the groups, as LR schedulers do "initial_lr"
            for group, base in zip(groups, self.base_momentums):
                group["initial_momentum"] = base
        self.last_epoch = last_epoch
        self.step()

    def _check_bases(self) -> None:
        """Raise ValueError for base momentums the schedule cannot use (subclasses)."""

    def get_momentum(self) -> list[float]:
        """The momentum of each param group at epoch `self.last_epoch` (subclasses)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and write the new momentum into every param group."""
        self.last_epoch += 1
        values = self.get_momentum()
        for i, (group, value) in enumerate(zip(self.optimizer.param_groups, values)):
            self._check(i, value)
            set_momentum(group, self.key, value)
        self._last_momentum = [get_momentum(g, self.key) for g in self.optimizer.param_groups]

    def _check(self, i: int, value: float) -> None:
        if value < 0 or (self.key == "betas" and not value < 1):
            allowed = "[0, 1)" if self.key == "betas" else ">= 0"
            name = "beta1" if self.key == "betas" else "momentum"
            raise ValueError(
                f"{type(self).__name__} gave param_groups[{i}] {name} {value} at epoch "
                f"{self.last_epoch}; {name} must be {allowed}"
            )

    def get_last_momentum(self) -> list[float]:
        """The momentum of each param group after the latest step (beta1 for Adam)."""
        return self._last_momentum

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (and any functions), to resume the schedule later."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lambdas")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state made by `state_dict()`."""
        self.__dict__.update(state_dict)


class LambdaMomentum(MomentumScheduler):
    """Momentum = base momentum x a function of the epoch (the momentum twin of LambdaLR).

    Rule, for each param group at epoch t:  momentum_t = base_momentum * momentum_lambda(t).
    momentum_lambda: a function of the epoch index, or a list of them (one per param group).
    base_momentum: defaults to each group's momentum when the scheduler is created; pass
    base_momentum=1.0 to make momentum_lambda(t) the momentum itself, e.g. a warm-up
    `LambdaMomentum(opt, lambda t: min(0.99, 0.5 + 0.01 * t), base_momentum=1.0)`.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        momentum_lambda: Callable[[int], float] | list[Callable[[int], float]],
        base_momentum: float | list[float] | None = None,
        last_epoch: int = -1,
    ) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(momentum_lambda, (list, tuple)):
            if len(momentum_lambda) != n:
                raise ValueError(
                    f"Expected {n} momentum_lambdas, but got {len(momentum_lambda)}"
                )
            self.lambdas = list(momentum_lambda)
        else:
            self.lambdas = [momentum_lambda] * n
        super().__init__(optimizer, base_momentum, last_epoch)

    def _check_bases(self) -> None:
        for i, base in enumerate(self.base_momentums):
            if base == 0:
                raise ValueError(
                    f"LambdaMomentum scales each group's momentum, but param_groups[{i}] has "
                    "momentum 0, so every scaled value would be 0; create the optimizer with "
                    "momentum > 0, or pass base_momentum=1.0 to let momentum_lambda give the "
                    "momentum itself"
                )

    def get_momentum(self) -> list[float]:
        return [
            base * fn(self.last_epoch) for fn, base in zip(self.lambdas, self.base_momentums)
        ]
