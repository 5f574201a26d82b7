"""A small training loop with a progress bar and a history, for dlbd_lib and torch models.

The same code trains both engines because they share names: `net(X)`, `loss_fn(y_hat, y)`,
`loss.backward()`, `optimizer.step()`, `optimizer.zero_grad()`, `net.train()/eval()`.
The engine is recognised from the model: a `dlbd_lib.nn.Module` or a `torch.nn.Module`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from dlbd_lib.nn.module import Module, to_numpy
from dlbd_lib.tensor import no_grad

__all__ = ["History", "fit", "evaluate", "accuracy", "train_epoch"]

Metric = Callable[[Any, Any], float]


def accuracy(y_hat: Any, y: Any) -> float:
    """Fraction of rows whose largest score is the true class.

    y_hat: (N, C) scores of either engine; y: (N,) integer classes. Returns a float.
    """
    scores, labels = to_numpy(y_hat), to_numpy(y)
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(
            f"accuracy expects scores (N, C) and labels (N,), got {scores.shape} and "
            f"{labels.shape}"
        )
    return float(np.mean(scores.argmax(axis=1) == labels))


class History(dict):
    """Per-epoch values: history["loss"], history["val_loss"], history["val_accuracy"], ...

    Also keeps `epoch_times` (seconds) and `best_epoch` when early stopping was used.
    """

    def __init__(self) -> None:
        super().__init__()
        self.epoch_times: list[float] = []
        self.best_epoch: int | None = None
        self.stopped_early = False

    def add(self, key: str, value: float) -> None:
        self.setdefault(key, []).append(float(value))

    def last(self, key: str) -> float:
        return self[key][-1]

    def plot(self, keys: Iterable[str] | None = None, ax: Any = None, logy: bool = False) -> Any:
        """Draw the curves (dlbd_lib.plot.loss_curves); returns the matplotlib Axes."""
        from dlbd_lib.plot import loss_curves

        return loss_curves(self, keys=keys, ax=ax, logy=logy)


def _is_torch(net: Any) -> bool:
    return not isinstance(net, Module) and hasattr(net, "state_dict") and hasattr(net, "to")


def _no_grad(net: Any) -> Any:
    if _is_torch(net):
        import torch

        return torch.no_grad()
    return no_grad()


def _device_of(net: Any) -> Any:
    for p in net.parameters():
        return p.device
    return None


def _to_device(batch: Any, device: Any) -> Any:
    if device is None:
        return batch
    return [b.to(device) if hasattr(b, "to") else b for b in batch]


def _state(net: Any) -> dict:
    sd = net.state_dict()
    if _is_torch(net):
        return {k: v.detach().clone() for k, v in sd.items()}
    return sd  # dlbd's state_dict already holds copies


def train_epoch(net: Any, loss_fn: Callable, optimizer: Any, loader: Iterable,
                clip_grad_norm: float | None = None) -> float:
    """One pass over `loader`, updating `net`; returns the mean training loss."""
    net.train()
    device = _device_of(net) if _is_torch(net) else None
    total, count = 0.0, 0
    for batch in loader:
        X, y = _to_device(batch, device)
        optimizer.zero_grad()
        loss = loss_fn(net(X), y)
        value = float(loss.item())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the training loss became {value}; lower the learning rate or clip gradients"
            )
        loss.backward()
        if clip_grad_norm is not None:
            if _is_torch(net):
                import torch

                torch.nn.utils.clip_grad_norm_(net.parameters(), clip_grad_norm)
            else:
                from dlbd_lib.nn.utils import clip_grad_norm_

                clip_grad_norm_(net.parameters(), clip_grad_norm)
        optimizer.step()
        n = len(y)
        total += value * n
        count += n
    return total / max(count, 1)


def evaluate(net: Any, loader: Iterable, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None) -> dict[str, float]:
    """Mean loss and metrics of `net` over `loader`, in eval mode and without a graph."""
    net.eval()
    device = _device_of(net) if _is_torch(net) else None
    sums: dict[str, float] = {}
    count = 0
    with _no_grad(net):
        for batch in loader:
            X, y = _to_device(batch, device)
            y_hat = net(X)
            n = len(y)
            if loss_fn is not None:
                sums["loss"] = sums.get("loss", 0.0) + float(loss_fn(y_hat, y).item()) * n
            for name, fn in (metrics or {}).items():
                sums[name] = sums.get(name, 0.0) + float(fn(y_hat, y)) * n
            count += n
    net.train()
    return {k: v / max(count, 1) for k, v in sums.items()}


def fit(net: Any, loss_fn: Callable, optimizer: Any, train_loader: Iterable,
        num_epochs: int, val_loader: Iterable | None = None,
        metrics: Mapping[str, Metric] | None = None, scheduler: Any = None,
        clip_grad_norm: float | None = None, patience: int | None = None,
        progress: bool = True, desc: str | None = None) -> History:
    """Train for `num_epochs` and return the History of losses and metrics per epoch.

    scheduler: stepped once per epoch (ReduceLROnPlateau gets the validation loss).
    patience: early stopping — stop when the validation loss has not improved for this
    many epochs, and restore the best weights.
    progress: one tqdm progress bar over epochs (tqdm.auto: a widget in JupyterLab, text
    in a terminal), with the latest losses in its postfix.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    if patience is not None and val_loader is None:
        raise ValueError("early stopping (patience=...) needs a val_loader")
    from tqdm.auto import tqdm

    history = History()
    best, best_state, waited = math.inf, None, 0
    label = desc or ("torch" if _is_torch(net) else "dlbd_lib")
    bar = tqdm(range(num_epochs), desc=label, disable=not progress, leave=True)
    for epoch in bar:
        start = time.perf_counter()
        history.add("loss", train_epoch(net, loss_fn, optimizer, train_loader, clip_grad_norm))
        if val_loader is not None:
            for k, v in evaluate(net, val_loader, loss_fn, metrics).items():
                history.add("val_" + k, v)
        if scheduler is not None:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(history.last("val_loss") if val_loader else history.last("loss"))
            else:
                scheduler.step()
        history.add("lr", optimizer.param_groups[0]["lr"])
        history.epoch_times.append(time.perf_counter() - start)
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items() if k != "lr"})
        if patience is not None:
            current = history.last("val_loss")
            if current < best - 1e-12:
                best, best_state, waited = current, _state(net), 0
                history.best_epoch = epoch
            else:
                waited += 1
                if waited >= patience:
                    history.stopped_early = True
                    break
    bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    return history
