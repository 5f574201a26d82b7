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


def _image_steps(build: Callable, shape: tuple, n_classes: int,
                 device: str) -> tuple[Callable[[], float], Callable[[], float]]:
    """Training steps of build(nn) and build(torch.nn) on seeded uniform images of `shape`
    with random labels in 0 .. n_classes - 1, cross-entropy loss."""
    rng = np.random.default_rng(0)
    X = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, n_classes, shape[0])
    torch.manual_seed(0)
    return _steps(build(nn), build(torch.nn), X, y, nn.functional.cross_entropy,
                  torch.nn.functional.cross_entropy, device=device)


def lenet(batch: int, target: float, device: str, name: str = "lenet") -> Workload:
    def build(mod):
        return mod.Sequential(
            mod.Conv2d(1, 6, 5, padding=2), mod.ReLU(), mod.MaxPool2d(2),
            mod.Conv2d(6, 16, 5), mod.ReLU(), mod.MaxPool2d(2), mod.Flatten(),
            mod.Linear(400, 120), mod.ReLU(), mod.Linear(120, 84), mod.ReLU(),
            mod.Linear(84, 10),
        )

    d, t = _image_steps(build, (batch, 1, 28, 28), 10, device)
    return Workload(name, f"LeNet-5 CNN, batch {batch}, 1x28x28", target, d, t)


def cifar_cnn(batch: int, target: float, device: str) -> Workload:
    """A CIFAR-sized CNN: 3 -> 32 -> 64 channels, 3x3 convolutions, 32x32 images."""
    def build(mod):
        return mod.Sequential(
            mod.Conv2d(3, 32, 3, padding=1), mod.ReLU(), mod.MaxPool2d(2),
            mod.Conv2d(32, 64, 3, padding=1), mod.ReLU(), mod.MaxPool2d(2), mod.Flatten(),
            mod.Linear(64 * 8 * 8, 10),
        )

    d, t = _image_steps(build, (batch, 3, 32, 32), 10, device)
    return Workload("cifar_cnn", f"CNN 3-32-64 ch, 3x3, batch {batch}, 3x32x32", target, d, t)


class _VideoNet:
    """Notebook 07b's late-fusion clip classifier: a CNN on every frame (time folded into
    the batch), a GRU over the frames' features, a linear layer on its last hidden state."""

    @staticmethod
    def build(mod, num_features: int = 32, num_hiddens: int = 32, num_classes: int = 4):
        class Net(mod.Module):
            def __init__(self):
                super().__init__()
                self.cnn = mod.Sequential(
                    mod.Conv2d(1, 8, 3, padding=1), mod.ReLU(), mod.MaxPool2d(2),
                    mod.Conv2d(8, 16, 3, padding=1), mod.ReLU(), mod.MaxPool2d(2),
                    mod.Flatten(), mod.Linear(16 * 4 * 4, num_features), mod.ReLU())
                self.gru = mod.GRU(num_features, num_hiddens, batch_first=True)
                self.fc = mod.Linear(num_hiddens, num_classes)

            def forward(self, x):  # x: (N, T, 1, H, W)
                n, t = x.shape[0], x.shape[1]
                feats = self.cnn(x.reshape(n * t, *x.shape[2:])).reshape(n, t, -1)
                _, h = self.gru(feats)
                return self.fc(h[-1])

        return Net()


def video_cnn_gru(batch: int, frames: int, target: float, device: str) -> Workload:
    d, t = _image_steps(_VideoNet.build, (batch, frames, 1, 16, 16), 4, device)
    return Workload("video", f"late-fusion CNN + GRU on clips (notebook 07b), batch {batch} "
                    f"x {frames} frames, 1x16x16", target, d, t)


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


# name -> (target with each library's default threads, target on one thread): the most
# dlbd/torch may be (issue #19 for default threads and the conv-heavy ones, #4 otherwise)
TARGETS = {
    "mlp_small": (0.8, 1.0), "mlp_big": (1.1, 1.5), "lenet": (1.25, 1.25),
    "rnn": (0.5, 1.0), "lstm": (1.0, 2.0), "lenet256": (1.5, 1.25),
    "cifar_cnn": (1.5, 1.25), "video": (1.5, 1.25),
}
NAMES = list(TARGETS)


def builders(device: str = "cpu", one_thread: bool = False) -> dict[str, Callable[[], Workload]]:
    """Workload name -> a function that builds it (models, data, weights), in table order."""
    def target(name: str) -> float:
        return TARGETS[name][1 if one_thread else 0]

    return {
        "mlp_small": lambda: mlp([64, 128, 10], 64, "mlp_small", target("mlp_small"), device),
        "mlp_big": lambda: mlp([784, 512, 512, 10], 256, "mlp_big", target("mlp_big"), device),
        "lenet": lambda: lenet(64, target("lenet"), device),
        "rnn": lambda: recurrent("rnn", 50, 32, 64, target("rnn"), device),
        "lstm": lambda: recurrent("lstm", 50, 32, 64, target("lstm"), device),
        "lenet256": lambda: lenet(256, target("lenet256"), device, name="lenet256"),
        "cifar_cnn": lambda: cifar_cnn(64, target("cifar_cnn"), device),
        "video": lambda: video_cnn_gru(32, 6, target("video"), device),
    }


def all_workloads(device: str = "cpu", one_thread: bool = False) -> list[Workload]:
    """Every benchmark workload with its target (ratio of medians dlbd/torch)."""
    return [build() for build in builders(device, one_thread).values()]
