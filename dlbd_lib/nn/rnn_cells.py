"""One time step of an RNN, LSTM or GRU, built from the engine's generic ops.

These cells are the teaching version: every gate is written with `@`, `+`, `sigmoid` and
`tanh`, so the graph of an unrolled sequence shows back-propagation through time step by
step. Names, shapes and initialisation follow torch.nn.RNNCell / LSTMCell / GRUCell
(weight_ih (G*H, I), weight_hh (G*H, H), bias_ih and bias_hh (G*H,)). For whole
sequences, `dlbd_lib.nn.RNN` / `LSTM` / `GRU` run the same maths as one fused op.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlbd_lib import functional as F
from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.nn import init
from dlbd_lib.nn.module import Module, Parameter
from dlbd_lib.tensor import Tensor

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


class RNNCellBase(Module):
    """Parameters and input checks shared by the three cells; num_chunks = gates G."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if device is not None and str(device) != "cpu":
            raise ValueError(f"dlbd_lib runs on numpy, so only 'cpu' exists, not {device!r}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dt = np.dtype(dtype or np.float32)
        G = num_chunks * hidden_size
        self.weight_ih = Parameter(np.empty((G, input_size), dtype=dt))
        self.weight_hh = Parameter(np.empty((G, hidden_size), dtype=dt))
        if bias:
            self.bias_ih = Parameter(np.empty(G, dtype=dt))
            self.bias_hh = Parameter(np.empty(G, dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _affine(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """The two projections x W_ih^T + b_ih and h W_hh^T + b_hh: each (N, G*H)."""
        gi = x @ self.weight_ih.T
        gh = h @ self.weight_hh.T
        if self.bias:
            gi = gi + self.bias_ih
            gh = gh + self.bias_hh
        return gi, gh

    def _prepare(self, input: Any, states: tuple, names: tuple) -> tuple:
        """Check shapes and dtypes; returns (x (N, I), states (N, H), batched)."""
        x = input if isinstance(input, Tensor) else Tensor(input)
        n_in, H = self.input_size, self.hidden_size
        cls = type(self).__name__
        if x.ndim not in (1, 2) or x.shape[-1] != n_in:
            raise ShapeError(f"{cls}(input_size={n_in}, hidden_size={H}) expects input of "
                             f"shape (N, {n_in}) or ({n_in},), got {fmt_shape(x.shape)}")
        if x.dtype != self.weight_ih.dtype:
            raise DtypeError(f"{cls} input dtype ({x.dtype}) does not match weight dtype "
                             f"({self.weight_ih.dtype})")
        batched = x.ndim == 2
        N = x.shape[0] if batched else 1
        expected = (N, H) if batched else (H,)
        out = []
        for s, name in zip(states, names):
            if s is None:
                out.append(Tensor(np.zeros((N, H), dtype=x.dtype)))
                continue
            s = s if isinstance(s, Tensor) else Tensor(s)
            if s.shape != expected:
                raise ShapeError(f"{cls}: {name} should have shape {fmt_shape(expected)} for "
                                 f"input of shape {fmt_shape(x.shape)}, got {fmt_shape(s.shape)}")
            out.append(s if batched else s.reshape(1, H))
        if not batched:
            x = x.reshape(1, n_in)
        return x, out, batched


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    input: (N, input_size) or (input_size,); hx: (N, hidden_size) or (hidden_size,) or None.
    Returns h': (N, hidden_size) (or (hidden_size,)).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        """One step: the next hidden state."""
        x, (h,), batched = self._prepare(input, (hx,), ("hx",))
        gi, gh = self._affine(x, h)
        a = gi + gh
        h_next = F.tanh(a) if self.nonlinearity == "tanh" else F.relu(a)
        return h_next if batched else h_next.reshape(self.hidden_size)


class LSTMCell(RNNCellBase):
    """One LSTM step, gates i, f, g, o: c' = f c + i g, h' = o tanh(c').

    input: (N, input_size) or (input_size,); hx: (h, c), each (N, hidden_size), or None.
    Returns (h', c'), each (N, hidden_size) (or (hidden_size,)).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        """One step: the next (hidden state, cell state)."""
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ShapeError(f"LSTMCell: hx should be a tuple (h, c), got {type(hx).__name__}")
        x, (h, c), batched = self._prepare(input, tuple(hx), ("hx[0]", "hx[1]"))
        H = self.hidden_size
        gi, gh = self._affine(x, h)
        a = gi + gh  # (N, 4H): pre-activations of i, f, g, o side by side
        i = F.sigmoid(a[:, :H])
        f = F.sigmoid(a[:, H:2 * H])
        g = F.tanh(a[:, 2 * H:3 * H])
        o = F.sigmoid(a[:, 3 * H:])
        c_next = f * c + i * g
        h_next = o * F.tanh(c_next)
        if not batched:
            return h_next.reshape(H), c_next.reshape(H)
        return h_next, c_next


class GRUCell(RNNCellBase):
    """One GRU step, gates r, z, n: n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),
    h' = (1 - z) n + z h.

    input: (N, input_size) or (input_size,); hx: (N, hidden_size) or (hidden_size,) or None.
    Returns h': (N, hidden_size) (or (hidden_size,)).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        """One step: the next hidden state."""
        x, (h,), batched = self._prepare(input, (hx,), ("hx",))
        H = self.hidden_size
        gi, gh = self._affine(x, h)
        r = F.sigmoid(gi[:, :H] + gh[:, :H])
        z = F.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = F.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h_next = (1 - z) * n + z * h
        return h_next if batched else h_next.reshape(H)
