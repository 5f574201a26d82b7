"""dlbd_lib.Tensor: construction, dtype rules, properties, grad modes, anomaly detection and
the semantics of backward(), each checked against torch where torch has the same thing."""

from __future__ import annotations

import copy
import pickle
import time

import numpy as np
import pytest
import torch
from opcheck import torch_dtype_name

import dlbd_lib as dl
import dlbd_lib.functional as F
from dlbd_lib import AnomalyError, DtypeError, Function, GradError, Tensor


# ---- construction and dtype rules ----------------------------------------------------------
@pytest.mark.parametrize("data", [
    1.5, [1.0, 2.0], [[1, 2], [3, 4]], 3, True, [True, False], [1, 2.5], [],
    np.arange(3.0), np.arange(3.0, dtype=np.float32), np.arange(3, dtype=np.int32),
    np.float64(2.0), np.float32(2.0), np.int64(3), np.array(1.25), [[0.1, 0.2]],
], ids=repr)
def test_dtype_of_new_tensors_matches_torch(data):
    """Python floats become float32, float64 arrays stay float64, integers stay integers."""
    d, t = Tensor(data), torch.tensor(data)
    assert str(d.dtype) == torch_dtype_name(t)
    assert d.shape == tuple(t.shape)
    assert isinstance(d.data, np.ndarray)
    np.testing.assert_array_equal(d.data, t.numpy())
    assert str(dl.tensor(data).dtype) == torch_dtype_name(t)


def test_array_likes_keep_their_dtype():
    t64 = torch.tensor([0.1, 0.2], dtype=torch.float64)
    assert Tensor(t64).dtype == np.float64 and Tensor(t64).data.tolist() == [0.1, 0.2]
    assert Tensor(torch.ones(2)).dtype == np.float32


def test_explicit_dtype_converts_without_float32_rounding():
    assert Tensor(0.1, dtype=np.float64).item() == 0.1
    assert dl.tensor([0.1, 0.7], dtype=np.float64).data.tolist() == [0.1, 0.7]
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert Tensor(np.arange(3.0), dtype=np.float32).dtype == np.float32
    assert Tensor([1.7, 2.2], dtype=np.int64).data.tolist() == [1, 2]


def test_tensor_function_copies_but_the_constructor_wraps():
    arr = np.zeros(3, np.float32)
    copied, wrapped = dl.tensor(arr), Tensor(arr)
    arr[0] = 5.0
    assert copied.data[0] == 0.0 and wrapped.data[0] == 5.0
    t = dl.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.dtype == np.float32


def test_creation_functions_follow_torch_shapes_and_dtypes():
    cases = [
        (dl.zeros(2, 3), torch.zeros(2, 3)), (dl.zeros((2, 3)), torch.zeros((2, 3))),
        (dl.ones(4), torch.ones(4)), (dl.ones(()), torch.ones(())),
        (dl.full((2, 2), 7.5), torch.full((2, 2), 7.5)), (dl.full(3, 1.0), torch.full((3,), 1.0)),
        (dl.arange(5), torch.arange(5)), (dl.arange(1, 7, 2), torch.arange(1, 7, 2)),
        (dl.arange(0, 1, 0.25), torch.arange(0, 1, 0.25)), (dl.arange(3.0), torch.arange(3.0)),
        (dl.zeros(2, dtype=np.float64), torch.zeros(2, dtype=torch.float64)),
    ]
    for d, t in cases:
        assert d.shape == tuple(t.shape) and str(d.dtype) == torch_dtype_name(t)
        np.testing.assert_array_equal(d.data, t.numpy())
    like = dl.ones_like(Tensor(np.zeros((2, 3), np.float64)), requires_grad=True)
    assert like.shape == (2, 3) and like.dtype == np.float64 and like.requires_grad
    assert dl.zeros_like(Tensor([1, 2])).dtype == np.int64
    assert dl.arange(4, dtype=np.float64).dtype == np.float64
    for fn in (dl.randn, dl.rand):
        r = fn(3, 4, requires_grad=True)
        assert r.shape == (3, 4) and r.dtype == np.float32 and r.requires_grad
    assert 0 <= dl.rand(1000).data.min() and dl.rand(1000).data.max() < 1


def test_manual_seed_makes_random_tensors_reproducible():
    dl.manual_seed(123)
    a = dl.randn(5).data.copy()
    dl.manual_seed(123)
    b = dl.randn(5).data
    c = dl.randn(5).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


# ---- properties and conversions ------------------------------------------------------------
def test_properties():
    x = Tensor(np.zeros((2, 3, 4), np.float32), requires_grad=True)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple)
    assert x.dtype == np.float32 and isinstance(x.dtype, np.dtype)
    assert (x.ndim, x.dim(), x.size, x.numel(), len(x)) == (3, 3, 24, 24, 2)
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn.name == "Mul" and y.requires_grad
    assert y.T.shape == (4, 3, 2)
    assert Tensor([[1, 2]]).tolist() == [[1, 2]]
    assert Tensor(3.0, name="w").name == "w"
    assert len({x, y}) == 2  # hashable by identity, as torch


def test_item_numpy_detach():
    x = Tensor(np.array([[2.5]], np.float32), requires_grad=True)
    assert x.item() == 2.5 and type(x.item()) is float
    assert type(Tensor(3).item()) is int and type(Tensor(True).item()) is bool
    y = x * 3
    assert y.numpy() is y.data  # the same memory, like torch's .numpy()
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.data, y.data)
    y.data[0, 0] = 1.0
    assert d.item() == 1.0
    arr = np.asarray(x)
    assert np.shares_memory(arr, x.data)
    copy = np.array(x)  # numpy's copy=True: must not alias the tensor
    copy[0, 0] = -1.0
    assert x.item() == 2.5
    assert np.array(x, dtype=np.float64).dtype == np.float64


def test_pickle_and_deepcopy_keep_data_grad_and_flag():
    x = Tensor(np.arange(3.0), requires_grad=True)
    (x * 2).sum().backward()
    for y in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x)):
        assert y is not x and y.requires_grad and y.dtype == np.float64
        np.testing.assert_array_equal(y.data, x.data)
        np.testing.assert_array_equal(y.grad, [2.0, 2.0, 2.0])
        assert not np.shares_memory(y.data, x.data)


def test_data_setter_follows_the_constructor_rules_and_counts_versions():
    x = Tensor(np.zeros(2, np.float32))
    v = x._version
    x.data = [1.0, 2.0]  # Python floats -> float32, as in Tensor(...)
    assert x.dtype == np.float32 and x._version == v + 1
    x.data = Tensor(np.ones(2))
    assert x.dtype == np.float64 and x._version == v + 2
    x._bump_version()
    assert x._version == v + 3


def test_repr_looks_like_torch():
    cases = [
        (Tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])),
        (Tensor([1, 2]), torch.tensor([1, 2])),
        (Tensor(3.0), torch.tensor(3.0)),
        (Tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)),
    ]
    for d, t in cases:
        assert repr(d) == repr(t)
    assert repr(Tensor(3.5)) == "tensor(3.5)"  # torch pads to 3.5000: cosmetic only
    assert repr(Tensor(np.array([1.0, 2.0]))) == "tensor([1., 2.], dtype=float64)"
    assert "dtype=int32" in repr(Tensor(np.array([1], np.int32)))
    s = Tensor([1.0, 2.0], requires_grad=True).sum()
    assert repr(s) == "tensor(3., grad_fn=<Sum>)"


def test_requires_grad_flag():
    x = Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    x.requires_grad = True
    y = x * 2
    with pytest.raises(GradError, match="leaf"):
        y.requires_grad_(False)
    with pytest.raises(DtypeError, match="int64"):
        Tensor([1, 2]).requires_grad = True
    with pytest.raises(DtypeError, match="int64"):
        Tensor([1, 2]).requires_grad_()
    Tensor([1, 2]).requires_grad = False  # turning it off is always fine


# ---- grad modes ----------------------------------------------------------------------------
def test_no_grad_records_nothing_and_restores():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with dl.no_grad():
        assert not dl.is_grad_enabled()
        y = x * 2 + 1
        with dl.enable_grad():
            assert dl.is_grad_enabled()
            z = x * 2
        assert not dl.is_grad_enabled()
    assert dl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn is not None
    with pytest.raises(ZeroDivisionError), dl.no_grad():
        raise ZeroDivisionError
    assert dl.is_grad_enabled()


def test_grad_mode_decorators_and_recursion():
    @dl.no_grad()
    def countdown(n):
        assert not dl.is_grad_enabled()
        return 0 if n == 0 else 1 + countdown(n - 1)

    assert countdown(3) == 3
    assert dl.is_grad_enabled()  # a recursive call must not leave grad mode off

    @dl.set_grad_enabled(False)
    def inside():
        return dl.is_grad_enabled()

    assert dl.is_grad_enabled()  # decorating must not switch the mode
    assert inside() is False
    assert dl.is_grad_enabled()

    @dl.enable_grad()
    def forced():
        return dl.is_grad_enabled()

    with dl.no_grad():
        assert forced() is True
        assert not dl.is_grad_enabled()


def test_set_grad_enabled_as_call_and_as_context():
    try:
        dl.set_grad_enabled(False)
        assert not dl.is_grad_enabled()
        assert not (Tensor([1.0], requires_grad=True) * 2).requires_grad
        dl.set_grad_enabled(True)
        assert dl.is_grad_enabled()
        with dl.set_grad_enabled(False):
            assert not dl.is_grad_enabled()
            with dl.set_grad_enabled(True):
                assert dl.is_grad_enabled()
            assert not dl.is_grad_enabled()
        assert dl.is_grad_enabled()
    finally:
        dl.set_grad_enabled(True)


# ---- anomaly detection ---------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_names_the_op_forward_and_backward():
    assert not dl.is_anomaly_enabled()
    x = Tensor([-1.0, 4.0], requires_grad=True)
    assert np.isnan(x.log().data[0])  # off by default: NaN goes through silently
    with dl.detect_anomaly():
        assert dl.is_anomaly_enabled()
        with pytest.raises(AnomalyError, match=r"NaN .*output of Log.*\(2,\)"):
            x.log()
        with pytest.raises(AnomalyError, match="inf .*output of Log"):
            Tensor([0.0, 1.0]).log()
        with pytest.raises(AnomalyError, match="inf .*output of Log"):
            Tensor(0.0).log()  # a 0-d result is checked too
        z = Tensor([0.0, 1.0], requires_grad=True)
        y = z.sqrt()  # finite forward; d sqrt/dx at 0 is inf
        with pytest.raises(AnomalyError, match="inf .*gradient of Sqrt"):
            y.sum().backward()
        w = Tensor(0.0, requires_grad=True)
        with pytest.raises(AnomalyError, match="gradient of Sqrt"):
            w.sqrt().backward()
    assert not dl.is_anomaly_enabled()
    with pytest.raises(AnomalyError), dl.detect_anomaly():
        Tensor([np.inf]) * 1.0
    assert not dl.is_anomaly_enabled()
    dl.set_detect_anomaly(True)
    try:
        assert dl.is_anomaly_enabled()
        with pytest.raises(AnomalyError, match="Div"):
            Tensor([1.0]) / 0.0
    finally:
        dl.set_detect_anomaly(False)


# ---- backward semantics --------------------------------------------------------------------
def _pair(x, requires_grad=True):
    return Tensor(x.copy(), requires_grad=requires_grad), torch.tensor(x.copy(),
                                                                     requires_grad=requires_grad)


def test_backward_on_a_scalar_and_with_an_explicit_gradient():
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
    (d, t), g = _pair(x), np.arange(6.0).reshape(2, 3)
    (d * d).sum().backward()
    (t * t).sum().backward()
    np.testing.assert_allclose(d.grad, t.grad.numpy())
    for grad in (g, Tensor(g), g.tolist()):
        d2, t2 = _pair(x)
        (d2.tanh() * 3).backward(grad)
        (t2.tanh() * 3).backward(torch.tensor(g))
        np.testing.assert_allclose(d2.grad, t2.grad.numpy(), rtol=1e-12)
    leaf = Tensor(np.ones(3), requires_grad=True)
    leaf.backward(np.array([1.0, 2.0, 3.0]))  # a leaf's gradient is the seed itself
    np.testing.assert_array_equal(leaf.grad, [1.0, 2.0, 3.0])
    one = Tensor(np.array([[2.0]]), requires_grad=True)
    (one * one).backward()  # one element, any shape: no gradient needed
    assert one.grad.shape == (1, 1) and one.grad[0, 0] == 4.0


def test_calling_backward_twice_accumulates_like_retain_graph():
    x = np.array([0.3, -1.2, 2.0])
    (d, t) = _pair(x)
    yd = (d.exp() * d).sum()
    yt = (t.exp() * t).sum()
    yd.backward()
    first = d.grad.copy()
    yd.backward()
    np.testing.assert_allclose(d.grad, 2 * first)
    yt.backward(retain_graph=True)
    yt.backward()
    np.testing.assert_allclose(d.grad, t.grad.numpy())
    d.zero_grad()
    assert d.grad is None


def test_diamond_graphs_accumulate():
    x = np.array([0.5, -1.5, 2.0])
    (d, t) = _pair(x)
    for v, lib in ((d, F), (t, torch)):
        h = v * 2  # used three times below
        y = (h * h + lib.tanh(h) + h.exp() * v).sum()
        y.backward()
    np.testing.assert_allclose(d.grad, t.grad.numpy(), rtol=1e-12)
    a = Tensor(3.0, requires_grad=True)
    (a * a * a + a).backward()  # d/da (a^3 + a) = 3a^2 + 1
    assert a.grad == 28.0 and isinstance(a.grad, np.ndarray) and a.grad.shape == ()


def test_repeated_indices_accumulate_their_gradients():
    x = Tensor(np.array([10.0, 20.0, 30.0], np.float32), requires_grad=True)
    (x[[0, 0, 2, 0]] * Tensor(np.array([1.0, 2.0, 3.0, 4.0], np.float32))).sum().backward()
    np.testing.assert_array_equal(x.grad, [7.0, 0.0, 3.0])
    m = Tensor(np.zeros((3, 2)), requires_grad=True)
    m[np.array([[2, 2], [0, 2]])].sum().backward()
    np.testing.assert_array_equal(m.grad, [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])


def test_gradients_are_summed_back_over_broadcast_dimensions():
    X = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    b = Tensor(np.zeros(4, np.float32), requires_grad=True)
    s = Tensor(np.ones((3, 1), np.float32), requires_grad=True)
    c = Tensor(np.float32(2.0), requires_grad=True)
    ((Tensor(X) + b) * s * c).sum().backward()
    np.testing.assert_array_equal(b.grad, np.full(4, 6.0))
    np.testing.assert_array_equal(s.grad, (2 * X).sum(1, keepdims=True))
    assert c.grad.shape == () and c.grad == X.sum()
    assert b.grad.dtype == s.grad.dtype == c.grad.dtype == np.float32


def test_gradients_have_the_dtype_of_their_tensor():
    w32 = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    w64 = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    out = w32 * w64  # float32 * float64 -> float64, as in torch
    assert out.dtype == np.float64
    out.sum().backward()
    assert w32.grad.dtype == np.float32 and w64.grad.dtype == np.float64
    np.testing.assert_array_equal(w32.grad, [3.0, 4.0])
    labels = Tensor(np.array([0, 2]))
    w = Tensor(np.array([1.5, 2.5], np.float32), requires_grad=True)
    (w * labels).sum().backward()
    assert labels.grad is None and w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [0.0, 2.0])


def test_gradients_never_alias_each_other_or_the_seed():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0])
    (a + b).backward(seed)
    a.grad *= 10  # an optimizer may scale a gradient in place
    seed[:] = 0
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])
    c = Tensor(np.ones((2, 3)), requires_grad=True)
    seed6 = np.arange(6.0)
    c.reshape(6).backward(seed6)
    assert c.grad.flags.writeable and not np.shares_memory(c.grad, seed6)
    base = c.grad if c.grad.base is None else c.grad.base  # a Grad is a view of its array
    assert base.flags.owndata


def test_only_inputs_that_require_grad_get_a_gradient():
    const = Tensor(np.array([1.0, 2.0]))
    w = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    h = const * w
    (h * 2).sum().backward()
    assert const.grad is None and h.grad is None  # non-leaves keep no grad by default
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


def test_retain_grad_keeps_an_intermediate_gradient_like_torch():
    x = np.array([0.2, -0.4, 1.0])
    (d, t) = _pair(x)
    hd, ht = d.sigmoid(), t.sigmoid()
    hd.retain_grad()
    ht.retain_grad()
    (hd * hd).sum().backward()
    (ht * ht).sum().backward()
    np.testing.assert_allclose(hd.grad, ht.grad.numpy())
    np.testing.assert_allclose(d.grad, t.grad.numpy())


def test_changing_data_between_forward_and_backward_is_an_error():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(np.array([3.0, 4.0]))
    loss = (w * x).sum()
    w.data = w.data - 0.1  # an optimizer step before backward
    with pytest.raises(GradError, match=r"shape \(2,\) used by Mul was modified in place"):
        loss.backward()
    loss = (w * x).sum()  # recomputed: fine
    loss.backward()
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])
    loss = (w.tanh() * x).sum()
    x._bump_version()  # x is saved for w's gradient: changing it is caught too
    with pytest.raises(GradError, match="modified in place"):
        loss.backward()
    w.grad = None
    loss = (w * x).sum()
    loss.backward()
    w._bump_version()  # after backward, changing data is what optimizers do
    loss = (w * x).sum()
    loss.backward()
    np.testing.assert_array_equal(w.grad, [6.0, 8.0])


def test_a_20000_op_chain_back_propagates_quickly():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 0.9999
    start = time.perf_counter()
    y.backward()
    elapsed = time.perf_counter() - start
    np.testing.assert_allclose(x.grad, 0.9999 ** 20_000, rtol=1e-9)
    assert elapsed < 2.0, f"backward over 20,000 ops took {elapsed:.2f} s"


def test_unrolled_rnn_matches_torch():
    """300 steps of h = tanh(h W + x_t U): a long graph sharing W and U at every step."""
    rng = np.random.default_rng(0)
    W, U = rng.standard_normal((2, 4, 4)) * 0.5
    xs = rng.standard_normal((300, 4))
    results = []
    for lib, wrap in ((F, lambda a: Tensor(a, requires_grad=True)),
                      (torch, lambda a: torch.tensor(a, requires_grad=True))):
        w, u = wrap(W), wrap(U)
        h = wrap(np.zeros(4))
        for x_t in xs:
            h = lib.tanh(h @ w + wrap(x_t) @ u)
        (h * h).sum().backward()
        results.append((w.grad, u.grad))
    (dw, du), (tw, tu) = results
    np.testing.assert_allclose(dw, tw.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(du, tu.numpy(), rtol=1e-10, atol=1e-12)


# ---- user-defined Functions ----------------------------------------------------------------
class Scale(Function):
    """A custom op: out = x * s, with s broadcast against x."""

    def forward(self, x, s):
        self.x, self.s = x, s
        return x * s

    def backward(self, g):
        # d(xs)/dx = s, d(xs)/ds = x; both returned at the broadcast shape
        return g * self.s, g * self.x


def test_custom_function_gradients_are_unbroadcast_by_the_engine():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    s = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    out = Scale.apply(x, s)
    assert out.grad_fn.name == "Scale" and out.shape == (2, 3)
    out.sum().backward()
    np.testing.assert_array_equal(s.grad, [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(x.grad, np.tile([1.0, 2.0, 3.0], (2, 1)))


def test_custom_function_may_return_one_array():
    class Double(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, g):
            return 2 * g  # d(2x)/dx = 2

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    Double.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
