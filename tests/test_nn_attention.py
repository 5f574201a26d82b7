"""Attention and Transformer blocks against torch and finite differences:
scaled_dot_product_attention, MultiheadAttention, TransformerEncoderLayer/Encoder and the
sinusoidal positions — outputs, attention weights, gradients of inputs and of every
parameter, masks of every kind, initialisation and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nn_parity import single_torch_thread

import dlbd_lib as dl
import dlbd_lib.nn.functional as F
from dlbd_lib import ShapeError, Tensor, nn
from dlbd_lib.gradcheck import gradcheck, gradcheck_projection
from dlbd_lib.nn.attention import merge_heads, split_heads
from dlbd_lib.torch_bridge import copy_weights

TF = torch.nn.functional
RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(autouse=True)
def _one_torch_thread():
    yield from single_torch_thread()


def randn(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def close(a, b, what):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(np.asarray(a), b, rtol=RTOL, atol=ATOL, err_msg=what)


def pair(arr):
    """The same values as a dlbd Tensor and a torch tensor, both asking for a gradient."""
    return Tensor(arr.copy(), requires_grad=True), torch.tensor(arr.copy(), requires_grad=True)


# ---- scaled_dot_product_attention ---------------------------------------------------------
def _sdpa_masks(rng, L, S):
    allowed = rng.random((L, S)) < 0.7
    allowed[:, 0] = True                                  # every query sees a key
    return {
        "none": (None, False),
        "bool": (allowed, False),
        "bool-empty-row": (np.vstack([np.zeros((1, S), bool), allowed[1:]]), False),
        "float": (randn(rng, 2, 1, L, S), False),          # broadcast over heads
        "causal": (None, True),
    }


@pytest.mark.parametrize("kind", ["none", "bool", "bool-empty-row", "float", "causal"])
def test_sdpa_matches_torch_with_masks(kind):
    rng = np.random.default_rng(0)
    N, H, L, S, E, Ev = 2, 3, 5, 5 if kind == "causal" else 6, 4, 3
    mask, causal = _sdpa_masks(rng, L, S)[kind]
    (qd, qt), (kd, kt), (vd, vt) = (pair(randn(rng, N, H, n, e))
                                    for n, e in ((L, E), (S, E), (S, Ev)))
    tm = None if mask is None else torch.from_numpy(mask.copy())
    out_d = F.scaled_dot_product_attention(qd, kd, vd, attn_mask=mask, is_causal=causal)
    out_t = TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=tm, is_causal=causal)
    assert out_d.shape == (N, H, L, Ev)
    close(out_d.data, out_t, "outputs")
    u = randn(rng, *out_d.shape)
    out_d.backward(u)
    out_t.backward(torch.from_numpy(u))
    for name, d, t in (("q", qd, qt), ("k", kd, kt), ("v", vd, vt)):
        close(d.grad, t.grad, f"gradient of {name}")
    if kind == "bool-empty-row":
        assert np.all(out_d.data[:, :, 0] == 0)          # zeros, not NaN, as torch


def test_sdpa_scale_and_broadcast_batch_match_torch():
    rng = np.random.default_rng(1)
    (qd, qt), (kd, kt), (vd, vt) = pair(randn(rng, 2, 4, 3)), pair(randn(rng, 1, 5, 3)), \
        pair(randn(rng, 1, 5, 2))
    out_d = F.scaled_dot_product_attention(qd, kd, vd, scale=0.3)
    out_t = TF.scaled_dot_product_attention(qt, kt, vt, scale=0.3)
    close(out_d.data, out_t, "outputs")
    u = randn(rng, *out_d.shape)
    out_d.backward(u)
    out_t.backward(torch.from_numpy(u))
    assert kd.grad.shape == (1, 5, 3)                       # summed over the broadcast batch
    for d, t in ((qd, qt), (kd, kt), (vd, vt)):
        close(d.grad, t.grad, "gradients")


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal"])
def test_sdpa_gradcheck_float64(kind):
    rng = np.random.default_rng(2)
    L, S = 4, 4
    mask, causal = _sdpa_masks(rng, L, S)[kind]
    if kind == "float":
        mask = mask.astype(np.float64)
    q, k, v = (Tensor(randn(rng, 2, L, 3, dtype=np.float64), requires_grad=True)
               for _ in range(3))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal), [q, k, v])


def test_sdpa_causal_mask_hides_the_future():
    rng = np.random.default_rng(3)
    q, k, v = (Tensor(randn(rng, 1, 6, 4), requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out[0, 2].sum().backward()                               # position 2's output
    assert np.all(k.grad[0, 3:] == 0) and np.all(v.grad[0, 3:] == 0)
    assert np.all(np.abs(v.grad[0, :3]) > 0)


def test_sdpa_dropout_is_seeded_and_scaled():
    rng = np.random.default_rng(4)
    q, k, v = (randn(rng, 2, 8, 4) for _ in range(3))
    dl.manual_seed(0)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).data
    dl.manual_seed(0)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, F.scaled_dot_product_attention(q, k, v).data)


def test_sdpa_errors_name_the_shapes():
    q = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(ShapeError, match=r"\(2, 4, 3\).*\(2, 5, 2\)"):
        F.scaled_dot_product_attention(q, np.zeros((2, 5, 2), np.float32), q)
    with pytest.raises(ShapeError, match="attn_mask"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 4), bool), is_causal=True)
    with pytest.raises(dl.DtypeError, match="int64"):
        F.scaled_dot_product_attention(q, q, np.zeros((2, 4, 3), np.int64))


# ---- heads as reshapes ----------------------------------------------------------------------
def test_split_and_merge_heads_are_inverse_reshapes():
    x = Tensor(np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6))
    h = split_heads(x, 3)
    assert h.shape == (2, 3, 5, 2)
    np.testing.assert_array_equal(h.data[1, 2, 4], x.data[1, 4, 4:6])   # head 2 = features 4:6
    np.testing.assert_array_equal(merge_heads(h).data, x.data)


# ---- MultiheadAttention -----------------------------------------------------------------
MHA_CASES = {
    "self": {},
    "cross": {"cross": True},
    "bool-attn": {"attn_mask": "bool"},
    "float-attn": {"attn_mask": "float"},
    "per-head-attn": {"attn_mask": "per-head"},
    "bool-padding": {"key_padding_mask": "bool"},
    "float-padding": {"key_padding_mask": "float"},
    "causal+padding": {"attn_mask": "causal", "key_padding_mask": "bool", "is_causal": True},
    "per-head-weights": {"average": False},
    "no-bias": {"bias": False},
    "unbatched": {"unbatched": True},
}


def _mha_inputs(rng, case, N, L, S, E, H, batch_first):
    cross = case.get("cross", False)
    shape = (lambda n: (n, E)) if case.get("unbatched") else \
        (lambda n: (N, n, E) if batch_first else (n, N, E))
    q = randn(rng, *shape(L))
    k = randn(rng, *shape(S)) if cross else q
    v = randn(rng, *shape(S)) if cross else q
    kw = {}
    s = S if cross else L
    am = case.get("attn_mask")
    if am == "bool":
        m = rng.random((L, s)) < 0.3
        m[:, 0] = False                                # every query keeps a key
        kw["attn_mask"] = m
    elif am == "float":
        kw["attn_mask"] = randn(rng, L, s)
    elif am == "per-head":
        kw["attn_mask"] = randn(rng, N * H, L, s)
    elif am == "causal":
        kw["attn_mask"] = np.triu(np.ones((L, s), bool), k=1)
        kw["is_causal"] = True
    kp = case.get("key_padding_mask")
    if kp == "bool":
        m = np.zeros((N, s), bool)
        m[0, -2:] = True                                # the last two keys of sample 0 padded
        kw["key_padding_mask"] = m
    elif kp == "float":
        kw["key_padding_mask"] = randn(rng, N, s)
    if "average" in case:
        kw["average_attn_weights"] = case["average"]
    return q, k, v, kw


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case, batch_first):
    spec = MHA_CASES[case]
    rng = np.random.default_rng(5)
    N, L, S, E, H = 2, 5, 4, 6, 3
    bias = spec.get("bias", True)
    t_mod = torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=batch_first)
    d_mod = copy_weights(t_mod, nn.MultiheadAttention(E, H, bias=bias, batch_first=batch_first))
    assert list(d_mod.state_dict()) == list(t_mod.state_dict())
    q, k, v, kw = _mha_inputs(rng, spec, N, L, S, E, H, batch_first)
    tkw = {key: torch.from_numpy(val.copy()) if isinstance(val, np.ndarray) else val
           for key, val in kw.items()}
    same = not spec.get("cross")
    qd, qt = pair(q)
    kd, kt = (qd, qt) if same else pair(k)
    vd, vt = (qd, qt) if same else pair(v)
    out_d, w_d = d_mod(qd, kd, vd, **kw)
    out_t, w_t = t_mod(qt, kt, vt, **tkw)
    assert out_d.shape == tuple(out_t.shape) and w_d.shape == tuple(w_t.shape)
    close(out_d.data, out_t, "outputs")
    close(w_d.data, w_t, "attention weights")
    u, uw = randn(rng, *out_d.shape), randn(rng, *w_d.shape)
    (out_d * Tensor(u)).sum().__add__((w_d * Tensor(uw)).sum()).backward()
    ((out_t * torch.from_numpy(u)).sum() + (w_t * torch.from_numpy(uw)).sum()).backward()
    for name, d, t in (("query", qd, qt), ("key", kd, kt), ("value", vd, vt)):
        close(d.grad, t.grad, f"gradient of {name}")
    t_params = dict(t_mod.named_parameters())
    for name, p in d_mod.named_parameters():
        close(p.grad, t_params[name].grad, f"gradient of {name}")


def test_multihead_attention_need_weights_false_and_eval_dropout():
    rng = np.random.default_rng(6)
    t_mod = torch.nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True).eval()
    d_mod = copy_weights(t_mod, nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True))
    d_mod.eval()
    x = randn(rng, 3, 7, 8)
    out_d, w = d_mod(x, x, x, need_weights=False)
    with torch.no_grad():
        out_t, _ = t_mod(torch.from_numpy(x), torch.from_numpy(x), torch.from_numpy(x),
                         need_weights=False)
    assert w is None
    close(out_d.data, out_t, "outputs in eval mode")


@pytest.mark.parametrize("with_mask", [False, True])
def test_multihead_attention_gradcheck_float64(with_mask):
    rng = np.random.default_rng(7)
    dl.manual_seed(0)
    mod = nn.MultiheadAttention(4, 2, batch_first=True, dtype=np.float64)
    for p in mod.parameters():           # non-zero biases so their gradient path is exercised
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    q = Tensor(randn(rng, 2, 3, 4, dtype=np.float64), requires_grad=True)
    kv = Tensor(randn(rng, 2, 4, 4, dtype=np.float64), requires_grad=True)
    kpm = np.array([[False] * 4, [False, False, True, True]]) if with_mask else None

    def fn(q, kv, *params):
        out, w = mod(q, kv, kv, key_padding_mask=kpm)
        return out.sum(axis=-1) + w[..., 0]

    assert gradcheck(fn, [q, kv, *mod.parameters()])


def test_multihead_attention_init_follows_torch():
    dl.manual_seed(0)
    mod = nn.MultiheadAttention(64, 4)
    bound = math.sqrt(6 / (64 + 3 * 64))                    # xavier_uniform_ on (3E, E)
    w = mod.in_proj_weight.data
    assert w.shape == (192, 64) and np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert not np.any(mod.in_proj_bias.data) and not np.any(mod.out_proj.bias.data)
    ob = 1 / math.sqrt(64)
    assert 0.9 * ob < np.abs(mod.out_proj.weight.data).max() <= ob
    t_mod = torch.nn.MultiheadAttention(64, 4)
    assert [(n, p.shape) for n, p in mod.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in t_mod.named_parameters()]


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(10, 3)
    mod = nn.MultiheadAttention(6, 2, batch_first=True)
    x = np.zeros((2, 5, 6), np.float32)
    with pytest.raises(ShapeError, match=r"E = 6.*\(2, 5, 4\)"):
        mod(np.zeros((2, 5, 4), np.float32), x, x)
    with pytest.raises(ShapeError, match=r"attn_mask must have shape \(L, S\) = \(5, 5\)"):
        mod(x, x, x, attn_mask=np.zeros((4, 5), bool))
    with pytest.raises(ShapeError, match=r"key_padding_mask must have shape \(N, S\)"):
        mod(x, x, x, key_padding_mask=np.zeros((5, 2), bool))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        mod(x, x, x, is_causal=True)


# ---- Transformer encoder ------------------------------------------------------------------
LAYER_CASES = [
    dict(activation="relu", norm_first=False, batch_first=False),
    dict(activation="gelu", norm_first=True, batch_first=True),
    dict(activation="callable", norm_first=False, batch_first=True),
    dict(activation="relu", norm_first=True, batch_first=False, bias=False),
]


def _layers(case, d_model=8, nhead=2, ff=16):
    kw = dict(case)
    act = kw.pop("activation")
    t_act, d_act = (torch.tanh, F.tanh) if act == "callable" else (act, act)
    t = torch.nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, activation=t_act, **kw)
    d = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, activation=d_act, **kw)
    return copy_weights(t, d), t


def _run_pair(d_mod, t_mod, x, kw, rng):
    tkw = {key: torch.from_numpy(val.copy()) if isinstance(val, np.ndarray) else val
           for key, val in kw.items()}
    xd, xt = pair(x)
    out_d, out_t = d_mod(xd, **kw), t_mod(xt, **tkw)
    close(out_d.data, out_t, "outputs")
    u = randn(rng, *out_d.shape)
    out_d.backward(u)
    out_t.backward(torch.from_numpy(u))
    close(xd.grad, xt.grad, "gradient of the input")
    t_params = dict(t_mod.named_parameters())
    assert [n for n, _ in d_mod.named_parameters()] == list(t_params)
    for name, p in d_mod.named_parameters():
        close(p.grad, t_params[name].grad, f"gradient of {name}")


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_transformer_encoder_layer_matches_torch(case):
    rng = np.random.default_rng(8)
    d_mod, t_mod = _layers(case)
    N, S = 3, 5
    x = randn(rng, N, S, 8) if case["batch_first"] else randn(rng, S, N, 8)
    pad = np.zeros((N, S), bool)
    pad[1, -2:] = True
    causal = np.triu(np.ones((S, S), bool), k=1)
    _run_pair(d_mod, t_mod, x, {"src_mask": causal, "src_key_padding_mask": pad}, rng)


def test_transformer_encoder_matches_torch_with_final_norm_and_float_causal_mask():
    rng = np.random.default_rng(9)
    t_layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                               norm_first=True)
    t_mod = torch.nn.TransformerEncoder(t_layer, 2, norm=torch.nn.LayerNorm(8),
                                        enable_nested_tensor=False)
    d_layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                         norm_first=True)
    d_mod = copy_weights(t_mod, nn.TransformerEncoder(d_layer, 2, norm=nn.LayerNorm(8)))
    mask = nn.generate_square_subsequent_mask(6)
    np.testing.assert_array_equal(mask, torch.nn.Transformer.generate_square_subsequent_mask(6))
    _run_pair(d_mod, t_mod, randn(rng, 2, 6, 8), {"mask": mask, "is_causal": True}, rng)


def test_transformer_encoder_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(4, 2, 8)
    enc = nn.TransformerEncoder(layer, 3)
    enc.layers[0].linear1.weight.data[...] = 0
    assert np.any(enc.layers[1].linear1.weight.data)
    assert len(list(enc.parameters())) == 3 * len(list(layer.parameters()))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_gradcheck_float64(norm_first):
    rng = np.random.default_rng(10)
    dl.manual_seed(0)
    mod = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu",
                                     batch_first=True, norm_first=norm_first,
                                     dtype=np.float64)
    x = Tensor(randn(rng, 2, 3, 4, dtype=np.float64), requires_grad=True)
    pad = np.array([[False, False, True], [False, False, False]])
    assert gradcheck_projection(lambda x, *p: mod(x, src_key_padding_mask=pad),
                                [x, *mod.parameters()], n_dirs=4)
    assert gradcheck(lambda x: mod(x, src_key_padding_mask=pad), [x])


def test_transformer_encoder_layer_rejects_an_unknown_activation():
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(4, 2, activation="swish")


# ---- positions ----------------------------------------------------------------------------
@pytest.mark.parametrize("d_model", [6, 7])
def test_sinusoidal_positional_encoding_follows_the_formula(d_model):
    pe = nn.sinusoidal_positional_encoding(50, d_model)
    assert pe.shape == (50, d_model) and pe.dtype == np.float32
    p, i = 13, 2
    angle = p / 10000 ** (2 * i / d_model)
    assert pe[p, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
    assert pe[p, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)
    np.testing.assert_allclose(pe[0, 1::2], 1.0)
    # relative positions are linear maps: PE[p + k] is a rotation of PE[p], same for every p
    assert np.allclose(np.linalg.norm(pe[10, :6]), np.linalg.norm(pe[30, :6]))


def test_positional_encoding_module_adds_positions_in_both_layouts():
    x = np.zeros((2, 5, 6), np.float32)
    pe = nn.sinusoidal_positional_encoding(5, 6)
    out = nn.PositionalEncoding(6, max_len=10)(Tensor(x))
    np.testing.assert_allclose(out.data, np.broadcast_to(pe, (2, 5, 6)))
    out_lnd = nn.PositionalEncoding(6, max_len=10, batch_first=False)(
        Tensor(x.transpose(1, 0, 2)))
    np.testing.assert_allclose(out_lnd.data, out.data.transpose(1, 0, 2))
    assert "pe" not in nn.PositionalEncoding(6).state_dict()
    with pytest.raises(ValueError, match="max_len=4"):
        nn.PositionalEncoding(6, max_len=4)(Tensor(x))


def test_transformer_encoder_and_positional_encoding_gradcheck_float64():
    rng = np.random.default_rng(11)
    dl.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True, norm_first=True,
                                       dtype=np.float64)
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(4, dtype=np.float64))
    pos = nn.PositionalEncoding(4, max_len=8)
    x = Tensor(randn(rng, 2, 3, 4, dtype=np.float64), requires_grad=True)
    mask = nn.generate_square_subsequent_mask(3, dtype=np.float64)
    assert gradcheck_projection(lambda x, *p: enc(pos(x), mask=mask),
                                [x, *enc.parameters()], n_dirs=4)
    assert gradcheck(lambda x: enc(pos(x), mask=mask), [x])
