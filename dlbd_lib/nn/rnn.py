"""Recurrent layers RNN, LSTM and GRU with torch.nn's names, shapes, init and return values.

Each layer (and direction) of a module is one fused op from `dlbd_lib.nn.rnn_ops`, so a
50-step sequence costs a handful of graph nodes, not hundreds. The step-by-step cells
(`RNNCell`, `LSTMCell`, `GRUCell`) live in `dlbd_lib.nn.rnn_cells` and are re-exported here.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from dlbd_lib import functional as F
from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.nn import init
from dlbd_lib.nn.functional import dropout as _dropout
from dlbd_lib.nn.module import Module, Parameter
from dlbd_lib.nn.rnn_cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
from dlbd_lib.nn.rnn_ops import gru_layer, lstm_layer, rnn_layer
from dlbd_lib.tensor import Tensor

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU: parameters, input checks, the layer loop.

    mode: "RNN_TANH", "RNN_RELU", "LSTM" or "GRU". Parameters per layer k (and direction,
    suffix "_reverse"): weight_ih_l{k} (G*H, I_k), weight_hh_l{k} (G*H, H),
    bias_ih_l{k}, bias_hh_l{k} (G*H,), all U(-1/sqrt(H), 1/sqrt(H)) as in torch.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int),
                                  ("hidden_size", hidden_size, int),
                                  ("num_layers", num_layers, int)):
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise TypeError(f"{name} should be of type {kind.__name__}, "
                                f"got: {type(value).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size:
            raise NotImplementedError("LSTM with proj_size > 0 is not supported by dlbd_lib")
        if device is not None and str(device) != "cpu":
            raise ValueError(f"dlbd_lib runs on numpy, so only 'cpu' exists, not {device!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        dt = np.dtype(dtype or np.float32)
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (gate_size, layer_input),
                          "weight_hh": (gate_size, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                names = []
                for base, shape in shapes.items():
                    setattr(self, base + suffix, Parameter(np.empty(shape, dtype=dt)))
                    names.append(base + suffix)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def flatten_parameters(self) -> None:
        """Does nothing: kept so torch code that calls it runs unchanged."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction, as torch's all_weights."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- checks -------------------------------------------------------------------------
    def _signature(self) -> str:
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers})")

    def _check_input(self, x: Tensor) -> None:
        n_in = self.input_size
        if x.ndim not in (2, 3) or x.shape[-1] != n_in:
            layout = "(N, L, {0}) (batch_first=True)" if self.batch_first else "(L, N, {0})"
            raise ShapeError(
                f"{self._signature()} expects input of shape {layout.format(n_in)} or unbatched "
                f"(L, {n_in}), got {fmt_shape(x.shape)}"
            )
        steps = x.shape[1] if (x.ndim == 3 and self.batch_first) else x.shape[0]
        if steps == 0:
            raise ShapeError(f"{self._signature()}: expected sequence length to be larger "
                             f"than 0, got input of shape {fmt_shape(x.shape)}")
        w = self.weight_ih_l0.dtype
        if x.dtype != w:
            raise DtypeError(
                f"{type(self).__name__} input dtype ({x.dtype}) does not match weight dtype "
                f"({w}); convert the input (x.astype({w.name})) or the model (model.to(...))"
            )

    def _check_state(self, h: Tensor, name: str, expected: tuple, x: Tensor) -> None:
        if h.shape != expected:
            what = "(num_layers * num_directions, N, hidden_size)"
            if len(expected) == 2:
                what = "(num_layers * num_directions, hidden_size) for unbatched input"
            raise ShapeError(
                f"{self._signature()}: {name} should have shape {fmt_shape(expected)} "
                f"{what} for input of shape {fmt_shape(x.shape)}, got {fmt_shape(h.shape)}"
            )
        if h.dtype != x.dtype:
            raise DtypeError(f"{type(self).__name__}: {name} has dtype {h.dtype} but the "
                             f"input has dtype {x.dtype}")

    def _states(self, x: Tensor, hx: Any, names: tuple) -> list:
        """hx checked against the input; returns one state (or None) per name, 3-D."""
        if hx is None:
            return [None] * len(names)
        if len(names) > 1:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ShapeError(f"{self._signature()}: hx should be a tuple (h0, c0), "
                                 f"got {type(hx).__name__}")
            states = [_as_tensor(h) for h in hx]
        else:
            states = [_as_tensor(hx)]
        D = 2 if self.bidirectional else 1
        batched = x.ndim == 3
        N = (x.shape[0] if self.batch_first else x.shape[1]) if batched else None
        expected = (self.num_layers * D, N, self.hidden_size) if batched else \
            (self.num_layers * D, self.hidden_size)
        for h, name in zip(states, names):
            self._check_state(h, name, expected, x)
        if not batched:
            states = [h.reshape(expected[0], 1, self.hidden_size) for h in states]
        return states

    # ---- forward ------------------------------------------------------------------------
    def _layer(self, x: Tensor, states: list, k: int, reverse: bool, batch_first: bool,
               L: int) -> tuple:
        """Run layer/direction k: returns (output, [h_n, (c_n)]) with finals as (1, N, H)."""
        p = self._all_weights[k]
        W_ih, W_hh = getattr(self, p[0]), getattr(self, p[1])
        b_ih, b_hh = (getattr(self, p[2]), getattr(self, p[3])) if self.bias else (None, None)
        many = len(self._all_weights) > 1
        h0 = [None if s is None else (s[k] if many else s) for s in states]
        t_last = 0 if reverse else L - 1

        def at(t: int) -> Any:  # index of time slot t, keeping a leading axis of size 1
            return (None, slice(None), t) if batch_first else slice(t, t + 1)

        if self.mode == "LSTM":
            packed = lstm_layer(x, h0[0], h0[1], W_ih, W_hh, b_ih, b_hh,
                                batch_first=batch_first, reverse=reverse)
            out = packed[:, :L] if batch_first else packed[:L]
            return out, [packed[at(t_last)], packed[at(L)]]
        if self.mode == "GRU":
            out = gru_layer(x, h0[0], W_ih, W_hh, b_ih, b_hh, batch_first=batch_first,
                            reverse=reverse)
        else:
            out = rnn_layer(x, h0[0], W_ih, W_hh, b_ih, b_hh,
                            nonlinearity="tanh" if self.mode == "RNN_TANH" else "relu",
                            batch_first=batch_first, reverse=reverse)
        return out, [out[at(t_last)]]

    def _run(self, input: Any, hx: Any, names: tuple) -> tuple:
        """The shared forward: returns (output, list of final states (K*D, N, H))."""
        x = _as_tensor(input)
        self._check_input(x)
        states = self._states(x, hx, names)
        batched = x.ndim == 3
        L = x.shape[1] if (batched and self.batch_first) else x.shape[0]
        if not batched:
            x = x.reshape(L, 1, self.input_size)
        bf = self.batch_first and batched
        D = 2 if self.bidirectional else 1
        finals: list[list[Tensor]] = [[] for _ in names]
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = _dropout(x, self.dropout, training=True)
            outs = []
            for direction in range(D):
                out, fin = self._layer(x, states, layer * D + direction, direction == 1, bf, L)
                outs.append(out)
                for acc, f in zip(finals, fin):
                    acc.append(f)
            x = outs[0] if D == 1 else F.cat(outs, axis=-1)
        hn = [f[0] if len(f) == 1 else F.cat(f, axis=0) for f in finals]
        if not batched:
            x = x.reshape(L, D * self.hidden_size)
            hn = [h.reshape(h.shape[0], self.hidden_size) for h in hn]
        return x, hn


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu), stacked.

    input: (L, N, input_size), (N, L, input_size) with batch_first, or unbatched
    (L, input_size); hx: (num_layers * num_directions, N, hidden_size) or None.
    Returns (output, h_n): output (L, N, D * hidden_size) (batch_first: (N, L, ...)),
    h_n (num_layers * D, N, hidden_size).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        """(output, h_n) for the whole sequence; see the class docstring for shapes."""
        out, (hn,) = self._run(input, hx, ("h0",))
        return out, hn


class LSTM(RNNBase):
    """Long short-term memory, gates i, f, g, o as torch; c_t = f c + i g, h_t = o tanh(c_t).

    input: (L, N, input_size) ((N, L, ...) with batch_first) or unbatched (L, input_size);
    hx: (h0, c0), each (num_layers * num_directions, N, hidden_size), or None.
    Returns (output, (h_n, c_n)): output (L, N, D * hidden_size), h_n and c_n
    (num_layers * D, N, hidden_size).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """(output, (h_n, c_n)) for the whole sequence; see the class docstring for shapes."""
        out, (hn, cn) = self._run(input, hx, ("h0", "c0"))
        return out, (hn, cn)


class GRU(RNNBase):
    """Gated recurrent unit, gates r, z, n as torch; h_t = (1 - z) n + z h_{t-1}.

    input: (L, N, input_size) ((N, L, ...) with batch_first) or unbatched (L, input_size);
    hx: (num_layers * num_directions, N, hidden_size) or None.
    Returns (output, h_n): output (L, N, D * hidden_size), h_n (num_layers * D, N, hidden_size).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        """(output, h_n) for the whole sequence; see the class docstring for shapes."""
        out, (hn,) = self._run(input, hx, ("h0",))
        return out, hn
