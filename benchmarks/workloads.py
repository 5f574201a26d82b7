"""The benchmark workloads: the same model, data and weights in dlbd_lib and in PyTorch.

Each workload builds a torch model, copies its weights into the matching dlbd_lib model,
and returns one training-step function per engine (forward, loss, backward, SGD update).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

import dlbd_lib as dl
from dlbd_lib import nn
from dlbd_lib.optim import SGD
from dlbd_lib.torch_bridge import copy_weights


@dataclass
class Workload:
    name: str
    description: str
    target: float  # the ratio dlbd/torch the course aims to stay under
    dlbd_step: Callable[[], float]
    torch_step: Callable[[], float]


def _steps(dnet: nn.Module, tnet: torch.nn.Module, X: np.ndarray, y: np.ndarray,
           d_loss: Callable, t_loss: Callable, lr: float = 0.01,
           device: str = "cpu") -> tuple[Callable[[], float], Callable[[], float]]:
    copy_weights(tnet, dnet)
    tnet.to(device)
    d_opt = SGD(dnet.parameters(), lr=lr, momentum=0.9)
    t_opt = torch.optim.SGD(tnet.parameters(), lr=lr, momentum=0.9)
    Xd, yd = dl.Tensor(X), dl.Tensor(y)
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def dlbd_step() -> float:
        d_opt.zero_grad()
        loss = d_loss(dnet(Xd), yd)
        loss.backward()
        d_opt.step()
        return loss.item()

    def torch_step() -> float:
        t_opt.zero_grad()
        loss = t_loss(tnet(Xt), yt)
        loss.backward()
        t_opt.step()
        sync()
        return loss.detach()

    return dlbd_step, torch_step


def mlp(sizes: list[int], batch: int, name: str, target: float, device: str) -> Workload:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)

    def build(mod):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [mod.Linear(a, b), mod.ReLU()]
        return mod.Sequential(*layers[:-1])

    torch.manual_seed(0)
    d, t = _steps(build(nn), build(torch.nn), X, y, nn.functional.cross_entropy,
                  torch.nn.functional.cross_entropy, device=device)
    desc = "MLP " + "-".join(map(str, sizes)) + f", batch {batch}"
    return Workload(name, desc, target, d, t)


def lenet(batch: int, target: float, device: str) -> Workload:
    rng = np.random.default_rng(0)
    X = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    def build(mod):
        return mod.Sequential(
            mod.Conv2d(1, 6, 5, padding=2), mod.ReLU(), mod.MaxPool2d(2),
            mod.Conv2d(6, 16, 5), mod.ReLU(), mod.MaxPool2d(2), mod.Flatten(),
            mod.Linear(400, 120), mod.ReLU(), mod.Linear(120, 84), mod.ReLU(),
            mod.Linear(84, 10),
        )

    torch.manual_seed(0)
    d, t = _steps(build(nn), build(torch.nn), X, y, nn.functional.cross_entropy,
                  torch.nn.functional.cross_entropy, device=device)
    return Workload("lenet", f"LeNet-5 CNN, batch {batch}, 1x28x28", target, d, t)


class _SeqRegressor:
    """A recurrent layer over the sequence and a linear head on the last output."""

    @staticmethod
    def build(mod, cell: str, input_size: int, hidden: int):
        rnn_cls = {"rnn": mod.RNN, "lstm": mod.LSTM, "gru": mod.GRU}[cell]

        class Net(mod.Module):
            def __init__(self):
                super().__init__()
                self.rnn = rnn_cls(input_size, hidden, batch_first=True)
                self.head = mod.Linear(hidden, 1)

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[:, -1])

        return Net()


def recurrent(cell: str, steps: int, batch: int, hidden: int, target: float,
              device: str, input_size: int = 8) -> Workload:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, steps, input_size)).astype(np.float32)
    y = rng.standard_normal((batch, 1)).astype(np.float32)
    torch.manual_seed(0)
    d, t = _steps(_SeqRegressor.build(nn, cell, input_size, hidden),
                  _SeqRegressor.build(torch.nn, cell, input_size, hidden), X, y,
                  nn.functional.mse_loss, torch.nn.functional.mse_loss, device=device)
    label = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    return Workload(cell, f"{label}, hidden {hidden}, {steps} steps, batch {batch}",
                    target, d, t)


def all_workloads(device: str = "cpu") -> list[Workload]:
    """The five workloads of issue #4 with their targets (ratio of medians dlbd/torch)."""
    return [
        mlp([64, 128, 10], 64, "mlp_small", 1.0, device),
        mlp([784, 512, 512, 10], 256, "mlp_big", 1.5, device),
        lenet(64, 3.0, device),
        recurrent("rnn", 50, 32, 64, 1.0, device),
        recurrent("lstm", 50, 32, 64, 2.0, device),
    ]
