"""RNN, LSTM, GRU and their cells: parity with torch.nn, float64 gradient checks, errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import dlbd_lib
from dlbd_lib import Tensor
from dlbd_lib.errors import DtypeError, ShapeError
from dlbd_lib.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

RTOL, ATOL = 1e-4, 1e-5
L, N, IN, H = 6, 3, 4, 5  # steps, batch, input features, hidden units

KINDS = {  # name: (dlbd class, torch class, extra kwargs)
    "rnn_tanh": (RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, torch.nn.LSTM, {}),
    "gru": (GRU, torch.nn.GRU, {}),
}
CELLS = {
    "rnn_tanh": (RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (GRUCell, torch.nn.GRUCell, {}),
}


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """torch's thread pool on a busy 2-core CI box makes tiny recurrent steps crawl."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _pair(table: dict, kind: str, *args, **kwargs):
    """The same layer in both engines, torch's weights copied into dlbd's."""
    dcls, tcls, extra = table[kind]
    torch.manual_seed(0)
    tm = tcls(*args, **extra, **kwargs)
    dm = dcls(*args, **extra, **kwargs)
    dm.load_state_dict(tm.state_dict())
    return dm, tm


def _close(a, b, what: str) -> None:
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(np.asarray(a), b, rtol=RTOL, atol=ATOL, err_msg=what)


def _states(kind: str, shape: tuple, rng) -> list[np.ndarray]:
    n = 2 if kind == "lstm" else 1
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


def _run_both(dm, tm, kind: str, x: np.ndarray, states: list | None, x_grad: bool = True):
    """Forward both with a loss on output AND the final state(s); compare everything."""
    tx = torch.tensor(x, requires_grad=x_grad)
    dx = Tensor(x.copy(), requires_grad=x_grad)
    ths = [torch.tensor(s, requires_grad=True) for s in states] if states else None
    dhs = [Tensor(s.copy(), requires_grad=True) for s in states] if states else None
    targ = lambda hs: None if hs is None else (tuple(hs) if kind == "lstm" else hs[0])  # noqa: E731
    tout, tfin = tm(tx, targ(ths))
    dout, dfin = dm(dx, targ(dhs))
    tfins = list(tfin) if kind == "lstm" else [tfin]
    dfins = list(dfin) if kind == "lstm" else [dfin]
    rng = np.random.default_rng(1)
    u = rng.standard_normal(tout.shape).astype(np.float32)
    vs = [rng.standard_normal(f.shape).astype(np.float32) for f in tfins]
    tloss = (tout * torch.tensor(u)).sum() + sum((f * torch.tensor(v)).sum()
                                                 for f, v in zip(tfins, vs))
    dloss = (dout * u).sum()
    for f, v in zip(dfins, vs):
        dloss = dloss + (f * v).sum()
    tloss.backward()
    dloss.backward()
    assert dout.shape == tuple(tout.shape) and dout.dtype == np.float32
    _close(dout.data, tout, "output")
    for i, (d, t) in enumerate(zip(dfins, tfins)):
        assert d.shape == tuple(t.shape)
        _close(d.data, t, f"final state {i}")
    if x_grad:
        _close(dx.grad, tx.grad, "input gradient")
    for i, (d, t) in enumerate(zip(dhs or [], ths or [])):
        _close(d.grad, t.grad, f"initial state {i} gradient")
    tgrads = dict(tm.named_parameters())
    for name, p in dm.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float32, name
        _close(p.grad, tgrads[name].grad, f"gradient of {name}")


# ---- parity with torch ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("num_layers,batch_first,bias,with_state",
                         list(itertools.product([1, 2], [False, True], [True, False],
                                                [False, True])))
def test_parity_with_torch(kind, num_layers, batch_first, bias, with_state):
    dm, tm = _pair(KINDS, kind, IN, H, num_layers=num_layers, batch_first=batch_first,
                   bias=bias)
    assert list(dm.state_dict()) == list(tm.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, L, IN) if batch_first else (L, N, IN)).astype(np.float32)
    states = _states(kind, (num_layers, N, H), rng) if with_state else None
    _run_both(dm, tm, kind, x, states)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("with_state,batch_first", [(False, False), (True, False), (True, True)])
def test_unbatched_input(kind, with_state, batch_first):
    dm, tm = _pair(KINDS, kind, IN, H, num_layers=2, batch_first=batch_first)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((L, IN)).astype(np.float32)
    states = _states(kind, (2, H), rng) if with_state else None
    _run_both(dm, tm, kind, x, states)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_bidirectional(kind, batch_first):
    dm, tm = _pair(KINDS, kind, IN, H, num_layers=2, bidirectional=True,
                   batch_first=batch_first)
    assert [(k, v.shape) for k, v in dm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, L, IN) if batch_first else (L, N, IN)).astype(np.float32)
    _run_both(dm, tm, kind, x, _states(kind, (4, N, H), rng))


@pytest.mark.parametrize("kind", list(KINDS))
def test_loss_on_last_output_only_and_constant_input(kind):
    """Output unused except its last step; the input needs no gradient (first-layer data)."""
    dm, tm = _pair(KINDS, kind, IN, H, batch_first=True)
    x = np.random.default_rng(4).standard_normal((N, L, IN)).astype(np.float32)
    tout, _ = tm(torch.tensor(x))
    dout, _ = dm(Tensor(x))
    (tout[:, -1] ** 2).mean().backward()
    (dout[:, -1] ** 2).mean().backward()
    tgrads = dict(tm.named_parameters())
    for name, p in dm.named_parameters():
        _close(p.grad, tgrads[name].grad, name)


# ---- cells -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("batched,bias,with_state",
                         list(itertools.product([True, False], [True, False], [True, False])))
def test_cell_parity(kind, batched, bias, with_state):
    dm, tm = _pair(CELLS, kind, IN, H, bias=bias)
    assert list(dm.state_dict()) == list(tm.state_dict())
    rng = np.random.default_rng(5)
    shape = (N,) if batched else ()
    x = rng.standard_normal(shape + (IN,)).astype(np.float32)
    states = _states(kind, shape + (H,), rng) if with_state else None
    tx, dx = torch.tensor(x, requires_grad=True), Tensor(x.copy(), requires_grad=True)
    ths = [torch.tensor(s, requires_grad=True) for s in states] if states else None
    dhs = [Tensor(s.copy(), requires_grad=True) for s in states] if states else None
    if kind == "lstm":
        tout = tm(tx, None if ths is None else tuple(ths))
        dout = dm(dx, None if dhs is None else tuple(dhs))
    else:
        tout = (tm(tx, None if ths is None else ths[0]),)
        dout = (dm(dx, None if dhs is None else dhs[0]),)
    dloss = None
    for k, o in enumerate(dout):
        _close(o.data, tout[k], f"cell output {k}")
        term = (o * (o * (k + 0.5))).sum()
        dloss = term if dloss is None else dloss + term
    tloss = sum((o * (o * (k + 0.5))).sum() for k, o in enumerate(tout))
    tloss.backward()
    dloss.backward()
    _close(dx.grad, tx.grad, "input gradient")
    for d, t in zip(dhs or [], ths or []):
        _close(d.grad, t.grad, "state gradient")
    tgrads = dict(tm.named_parameters())
    for name, p in dm.named_parameters():
        _close(p.grad, tgrads[name].grad, name)


@pytest.mark.parametrize("kind", list(KINDS))
def test_unrolled_cell_equals_fused_layer(kind):
    """The teaching cell, looped over time, computes exactly what the fused layer does."""
    layer = KINDS[kind][0](IN, H, **KINDS[kind][2])
    cell = CELLS[kind][0](IN, H, **CELLS[kind][2])
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = Tensor(np.random.default_rng(6).standard_normal((L, N, IN)).astype(np.float32))
    out, _ = layer(x)
    state = None
    for t in range(L):
        state = cell(x[t], state)
        h = state[0] if kind == "lstm" else state
        np.testing.assert_allclose(h.data, out.data[t], rtol=1e-5, atol=1e-6)


# ---- gradient checks in float64 ----------------------------------------------------------------
def _projection_check(fn, inputs, n_dirs: int = 3, eps: float = 1e-6, seed: int = 0) -> None:
    """(L(x + eps v) - L(x - eps v)) / 2 eps == sum(grad * v), L = sum(u * fn(x))."""
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(out.shape)
    out.backward(u)
    grads = [t.grad.copy() for t in inputs]
    x0 = [t.data.copy() for t in inputs]
    for _ in range(n_dirs):
        vs = [rng.standard_normal(t.shape) for t in inputs]
        vals = []
        for sign in (1, -1):
            for t, a, v in zip(inputs, x0, vs):
                t.data[...] = a + sign * eps * v
            with dlbd_lib.no_grad():
                vals.append(float(np.sum(u * fn(*inputs).data)))
        for t, a in zip(inputs, x0):
            t.data[...] = a
        numeric = (vals[0] - vals[1]) / (2 * eps)
        analytic = sum(float(np.sum(g * v)) for g, v in zip(grads, vs))
        assert np.isclose(analytic, numeric, rtol=1e-6, atol=1e-8), (analytic, numeric)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_gradcheck_float64(kind, batch_first):
    dm = KINDS[kind][0](IN, H, num_layers=2, batch_first=batch_first, **KINDS[kind][2]).double()
    rng = np.random.default_rng(7)
    x = Tensor(rng.standard_normal((N, L, IN) if batch_first else (L, N, IN)),
               requires_grad=True)
    states = [Tensor(rng.standard_normal((2, N, H)), requires_grad=True)
              for _ in range(2 if kind == "lstm" else 1)]
    params = list(dm.parameters())

    def fn(x, *rest):
        hx = tuple(rest[:2]) if kind == "lstm" else rest[0]
        out, fin = dm(x, hx)
        fins = list(fin) if kind == "lstm" else [fin]
        parts = [out.reshape(-1)] + [f.reshape(-1) for f in fins]
        return dlbd_lib.cat(parts, axis=0)

    out, _ = dm(x, tuple(states) if kind == "lstm" else states[0])
    assert out.dtype == np.float64
    _projection_check(fn, [x, *states, *params])


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_gradcheck_float64(kind):
    cell = CELLS[kind][0](IN, H, **CELLS[kind][2]).double()
    rng = np.random.default_rng(8)
    x = Tensor(rng.standard_normal((N, IN)), requires_grad=True)
    states = [Tensor(rng.standard_normal((N, H)), requires_grad=True)
              for _ in range(2 if kind == "lstm" else 1)]

    def fn(x, *rest):
        if kind == "lstm":
            h, c = cell(x, tuple(rest[:2]))
            return dlbd_lib.cat([h, c], axis=1)
        return cell(x, rest[0])

    _projection_check(fn, [x, *states, *cell.parameters()])


# ---- long sequences, modes, init -------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_long_sequence_backward(kind):
    dm, tm = _pair(KINDS, kind, 2, 8)
    x = np.random.default_rng(9).standard_normal((1000, 2, 2)).astype(np.float32)
    dout, _ = dm(Tensor(x))
    tout, _ = tm(torch.tensor(x))
    dout.sum().backward()
    tout.sum().backward()
    _close(dout.data, tout, "output")
    tgrads = dict(tm.named_parameters())
    for name, p in dm.named_parameters():
        np.testing.assert_allclose(p.grad, tgrads[name].grad.numpy(), rtol=1e-3, atol=1e-4)


def test_unrolled_cell_1000_steps_backward():
    """A 1,000-step graph built from cells back-propagates (iterative topological sort)."""
    cell = RNNCell(2, 4)
    x = Tensor(np.random.default_rng(10).standard_normal((1000, 1, 2)).astype(np.float32))
    h = None
    for t in range(1000):
        h = cell(x[t], h)
    h.sum().backward()
    assert all(np.isfinite(p.grad).all() for p in cell.parameters())


def test_dropout_between_layers():
    dlbd_lib.manual_seed(0)
    m = GRU(IN, H, num_layers=3, dropout=0.5)
    x = Tensor(np.random.default_rng(11).standard_normal((L, N, IN)).astype(np.float32))
    a, _ = m(x)
    b, _ = m(x)
    assert not np.allclose(a.data, b.data)  # a fresh mask each call
    m.eval()
    c, _ = m(x)
    d, _ = m(x)
    np.testing.assert_array_equal(c.data, d.data)
    m.train()
    dlbd_lib.manual_seed(1)
    e, _ = m(x)
    dlbd_lib.manual_seed(1)
    f, _ = m(x)
    np.testing.assert_array_equal(e.data, f.data)  # the engine's seeded generator
    e.sum().backward()
    assert m.weight_ih_l0.grad is not None
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        RNN(IN, H, dropout=0.2)


def test_eval_mode_dropout_matches_torch():
    dm, tm = _pair(KINDS, "lstm", IN, H, num_layers=2, dropout=0.4)
    dm.eval()
    tm.eval()
    x = np.random.default_rng(12).standard_normal((L, N, IN)).astype(np.float32)
    _close(dm(Tensor(x))[0].data, tm(torch.tensor(x))[0], "output")


@pytest.mark.parametrize("kind", list(KINDS))
def test_init_range_and_seed(kind):
    dlbd_lib.manual_seed(3)
    a = KINDS[kind][0](IN, 16, num_layers=2, **KINDS[kind][2])
    dlbd_lib.manual_seed(3)
    b = KINDS[kind][0](IN, 16, num_layers=2, **KINDS[kind][2])
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert p.dtype == np.float32 and p.requires_grad
        assert np.abs(p.data).max() <= 0.25 and p.data.std() > 0.1, name
        np.testing.assert_array_equal(p.data, q.data)


def test_no_grad_and_return_types():
    m = LSTM(IN, H)
    x = Tensor(np.zeros((L, N, IN), np.float32))
    with dlbd_lib.no_grad():
        out, (h, c) = m(x)
    assert not out.requires_grad and not h.requires_grad and not c.requires_grad
    out, hc = m(x)
    assert isinstance(hc, tuple) and len(hc) == 2 and out.requires_grad
    assert "LSTM(4, 5)" in repr(m) and "num_layers=2" in repr(GRU(4, 5, 2))


# ---- errors ----------------------------------------------------------------------------------
def test_error_messages():
    m = RNN(3, 5)
    with pytest.raises(ShapeError, match=r"RNN\(input_size=3.*expects input of shape "
                                         r"\(L, N, 3\).*got \(5, 4, 2\)"):
        m(np.zeros((5, 4, 2), np.float32))
    with pytest.raises(ShapeError, match=r"\(N, L, 3\) \(batch_first=True\).*got \(2, 3, 4, 3\)"):
        RNN(3, 5, batch_first=True)(np.zeros((2, 3, 4, 3), np.float32))
    with pytest.raises(ShapeError, match=r"h0 should have shape \(1, 4, 5\).*got \(2, 4, 5\)"):
        m(np.zeros((6, 4, 3), np.float32), np.zeros((2, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"h0 should have shape \(2, 5\).*unbatched"):
        RNN(3, 5, num_layers=2)(np.zeros((6, 3), np.float32), np.zeros((2, 1, 5), np.float32))
    lstm = LSTM(3, 5, batch_first=True)
    x = np.zeros((4, 6, 3), np.float32)
    with pytest.raises(ShapeError, match=r"c0 should have shape \(1, 4, 5\).*got \(1, 6, 5\)"):
        lstm(x, (np.zeros((1, 4, 5), np.float32), np.zeros((1, 6, 5), np.float32)))
    with pytest.raises(RuntimeError, match=r"hx should be a tuple \(h0, c0\)"):
        lstm(x, np.zeros((1, 4, 5), np.float32))
    with pytest.raises(ShapeError, match="sequence length to be larger than 0"):
        m(np.zeros((0, 4, 3), np.float32))
    with pytest.raises(DtypeError, match=r"input dtype \(float64\) does not match weight dtype"):
        GRU(3, 5)(np.zeros((6, 4, 3)))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        RNN(3, 5, nonlinearity="sigmoid")
    with pytest.raises(NotImplementedError, match="proj_size"):
        LSTM(3, 5, proj_size=2)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        GRU(3, 5, dropout=1.5)
    with pytest.raises(ShapeError,
                       match=r"LSTMCell\(input_size=3.*\(N, 3\) or \(3,\), got \(2, 4\)"):
        LSTMCell(3, 5)(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError, match=r"GRUCell: hx should have shape \(2, 5\).*got \(3, 5\)"):
        GRUCell(3, 5)(np.zeros((2, 3), np.float32), np.zeros((3, 5), np.float32))


def test_weights_changed_after_forward_is_detected():
    m = RNN(IN, H)
    out, _ = m(Tensor(np.ones((L, N, IN), np.float32)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.weight_hh_l0.data -= 0.1
    with pytest.raises(RuntimeError, match="modified in place"):
        out.sum().backward()


@pytest.mark.parametrize("kind", list(KINDS))
def test_backward_twice_accumulates_and_models_interleave(kind):
    """The graph is kept (backward twice adds the same gradients again), and the reused
    work arrays of one model's backward do not leak into another's."""
    a = KINDS[kind][0](IN, H, num_layers=2, **KINDS[kind][2])
    b = KINDS[kind][0](2, 3, batch_first=True, **KINDS[kind][2])
    xa = Tensor(np.random.default_rng(13).standard_normal((L, N, IN)).astype(np.float32))
    xb = Tensor(np.random.default_rng(14).standard_normal((2, 9, 2)).astype(np.float32))
    out_a, _ = a(xa)
    out_b, _ = b(xb)
    (out_a * out_a).sum().backward()
    first = [p.grad.copy() for p in a.parameters()]
    (out_b * out_b).sum().backward()
    (out_a * out_a).sum().backward()
    for g1, p in zip(first, a.parameters()):
        np.testing.assert_allclose(p.grad, 2 * g1, rtol=1e-5, atol=1e-6)
