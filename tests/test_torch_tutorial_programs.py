"""Small programs in the style of PyTorch's beginner tutorials, run on torch and on dlbd_lib.

Each program is written once, against a library `lib` (torch or dlbd_lib), the way a learner
types it from the tutorials: tensors, autograd, a manual SGD loop, an nn.Module trained by
an optimizer. Both runs start from the same numbers and must give the same results step by
step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dlbd_lib as dl


def tensors_program(lib):
    """Tensors: creation, arithmetic, indexing, reductions, in-place, shapes."""
    data = [[1, 2], [3, 4]]
    x_data = lib.tensor(data)
    x_np = np.array(data)
    x_from = lib.from_numpy(x_np)
    x_ones = lib.ones_like(x_data)
    x_rand = lib.full_like(x_data, 0.5, dtype=lib.float)
    shape = (2, 3)
    zeros = lib.zeros(shape)
    tensor = lib.ones(4, 4)
    tensor[:, 1] = 0
    t1 = lib.cat([tensor, tensor, tensor], dim=1)
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    z1 = tensor * tensor
    agg = tensor.sum()
    tensor.add_(5)
    first_row, last_col = tensor[0], tensor[..., -1]
    values, indices = lib.max(x_data.float() * x_rand, dim=1)
    out = [x_from.sum().item(), x_ones.sum().item(), zeros.shape[1], t1.shape[1], agg.item(),
           y1.sum().item(), y2.mean().item(), z1.sum().item(), tensor.sum().item(),
           first_row.sum().item(), last_col.sum().item(), values.sum().item(),
           indices.sum().item(), x_data.float().std().item(), x_data.size(1),
           lib.stack([x_data, x_data]).shape[0], (x_data > 2).sum().item(),
           lib.where(x_data > 2, x_data, lib.zeros_like(x_data)).sum().item(),
           x_data.view(-1).shape[0], x_data.unsqueeze(0).shape[0], x_data.t()[0, 1].item()]
    return [float(v) for v in out]


def autograd_program(lib):
    """Autograd: the tutorial's one-layer logistic network and its gradients."""
    x = lib.ones(5)
    y = lib.zeros(3)
    w = lib.tensor(np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3), requires_grad=True)
    b = lib.tensor([0.1, -0.2, 0.3], requires_grad=True)
    z = lib.matmul(x, w) + b
    loss = lib.nn.functional.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    with lib.no_grad():
        z_det = lib.matmul(x, w) + b
    assert not z_det.requires_grad and z.requires_grad
    q = lib.tensor([2.0, 3.0], requires_grad=True)
    r = lib.tensor([6.0, 4.0], requires_grad=True)
    s = 3 * q ** 3 - r ** 2
    s.backward(gradient=lib.ones(2))
    return [loss.item(), *w.grad.flatten().tolist(), *b.grad.tolist(), *q.grad.tolist(),
            *r.grad.tolist()]


def polynomial_program(lib):
    """'Learning PyTorch with Examples': fit sin(x) with a cubic by hand-written SGD."""
    x = lib.linspace(-math.pi, math.pi, 200)
    y = lib.sin(x)
    start = np.array([0.1, -0.2, 0.3, -0.05], np.float32)
    a, b, c, d = (lib.tensor(v, requires_grad=True) for v in start)
    learning_rate = 1e-6
    losses = []
    for t in range(30):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with lib.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            if t % 2:
                a.grad = None
                b.grad = None
                c.grad = None
                d.grad = None
            else:
                a.grad.zero_()
                b.grad.zero_()
                c.grad.zero_()
                d.grad.zero_()
    return losses + [a.item(), b.item(), c.item(), d.item()]


def classifier_program(lib):
    """nn.Module + optimizer: a small MLP classifier on separable blobs, mini-batch SGD."""
    nn = lib.nn

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(2 * 2, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3),
            )

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))

    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 2, 2)).astype(np.float32)
    labels = rng.integers(0, 3, 96)
    X[np.arange(96), labels % 2, labels // 2] += 2.5  # each class lights one pixel
    model = NeuralNetwork()
    init = np.random.default_rng(1)
    with lib.no_grad():
        for _, p in model.named_parameters():
            p.copy_(lib.from_numpy(init.uniform(-0.4, 0.4, tuple(p.shape)).astype(np.float32)))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    Xt, yt = lib.from_numpy(X), lib.from_numpy(labels)
    losses = []
    for _epoch in range(3):
        model.train()
        for i in range(0, 96, 16):
            pred = model(Xt[i:i + 16])
            loss = loss_fn(pred, yt[i:i + 16])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        model.eval()
        with lib.no_grad():
            pred = model(Xt)
            correct = (pred.argmax(1) == yt).type(lib.float).sum().item()
            top2 = pred.topk(2, dim=1).indices
        losses.append(correct)
        losses.append(float((top2 == yt.unsqueeze(1)).any(1).sum().item()))
    return losses


@pytest.mark.parametrize("program, rtol", [
    (tensors_program, 1e-6), (autograd_program, 1e-6), (polynomial_program, 1e-5),
    (classifier_program, 1e-4),
])
def test_the_program_gives_torchs_numbers_on_dlbd_lib(program, rtol):
    torch.manual_seed(0)
    dl.manual_seed(0)
    expected = program(torch)
    got = program(dl)
    assert len(got) == len(expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-6)
