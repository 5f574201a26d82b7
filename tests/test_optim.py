"""dlbd_lib.optim against torch.optim: same gradients in, same parameters out, every step."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import dlbd_lib.optim as optim
import dlbd_lib.optim.optimizer
from dlbd_lib.errors import DtypeError, ShapeError
from dlbd_lib.tensor import Tensor

SHAPES = [(6, 4), (4,), (3, 2, 2)]
STEPS = 100
RTOL, ATOL = 1e-5, 1e-6


class Problem:
    """A fixed noisy quadratic per parameter: grad_t(x) = sign * (c * (x - target) + noise_t)."""

    def __init__(self, seed: int = 0, dtype: type = np.float32, sign: float = 1.0) -> None:
        rng = np.random.default_rng(seed)
        self.x0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.curv = [rng.uniform(0.5, 2.0, s).astype(dtype) for s in SHAPES]
        self.target = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.noise = [(0.1 * rng.standard_normal((STEPS, *s))).astype(dtype) for s in SHAPES]
        self.sign = dtype(sign)

    def grad(self, i: int, x: np.ndarray, t: int) -> np.ndarray:
        return self.sign * (self.curv[i] * (x - self.target[i]) + self.noise[i][t])

    def dl_params(self) -> list[Tensor]:
        return [Tensor(x.copy(), requires_grad=True) for x in self.x0]

    def th_params(self) -> list[torch.Tensor]:
        return [torch.tensor(x.copy(), requires_grad=True) for x in self.x0]

    def set_dl_grads(self, params: list[Tensor], t: int) -> None:
        for i, p in enumerate(params):
            p.grad = self.grad(i, p.data, t)

    def set_th_grads(self, params: list[torch.Tensor], t: int) -> None:
        for i, p in enumerate(params):
            p.grad = torch.from_numpy(self.grad(i, p.detach().numpy(), t))


def assert_same(dl_params: list[Tensor], th_params: list[torch.Tensor], where: str = "") -> None:
    for i, (a, b) in enumerate(zip(dl_params, th_params)):
        assert a.data.dtype == b.detach().numpy().dtype, f"dtype changed for param {i}"
        np.testing.assert_allclose(
            a.data, b.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"param {i} {where}"
        )


def groups_of(params: list, group_options: list[dict] | None) -> list:
    """Split 3 params into groups [p0], [p1, p2] with the given options, or one plain list."""
    if group_options is None:
        return list(params)
    return [
        {"params": [params[0]], **group_options[0]},
        {"params": params[1:], **group_options[1]},
    ]


def run_both(name: str, kwargs: dict, group_options: list[dict] | None = None,
             sign: float = 1.0, steps: int = STEPS) -> tuple:
    problem = Problem(sign=sign)
    dl_p, th_p = problem.dl_params(), problem.th_params()
    dl_opt = getattr(optim, name)(groups_of(dl_p, group_options), **kwargs)
    th_opt = getattr(torch.optim, name)(groups_of(th_p, group_options), **kwargs)
    for t in range(steps):
        problem.set_dl_grads(dl_p, t)
        problem.set_th_grads(th_p, t)
        dl_opt.step()
        th_opt.step()
        assert_same(dl_p, th_p, f"after step {t + 1}")
    return dl_opt, th_opt, dl_p, th_p


# ---- parity with torch, option by option ---------------------------------------------
CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.05}),
    ("Adam", {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-6}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("Adam", {"lr": 0.05, "betas": (0.0, 0.99)}),
    ("AdamW", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_trajectory_matches_torch(name: str, kwargs: dict) -> None:
    # with maximize=True the gradients are those of -f, so the run still converges
    sign = -1.0 if kwargs.get("maximize") else 1.0
    dl_opt, th_opt, _, _ = run_both(name, kwargs, sign=sign)
    for dl_s, th_s in zip(dl_opt.state.values(), th_opt.state.values()):
        assert set(dl_s) == set(th_s)
        for key, value in dl_s.items():
            if key == "step":
                assert value == float(th_s[key])
            else:
                assert value.dtype == np.float32
                np.testing.assert_allclose(value, th_s[key].numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("SGD", [{"lr": 0.1}, {"momentum": 0.5, "nesterov": True}]),
        ("Adam", [{"lr": 0.1, "betas": (0.8, 0.99)}, {"amsgrad": True}]),
        ("RMSprop", [{"lr": 0.001}, {"centered": True, "momentum": 0.3}]),
    ],
)
def test_param_groups_with_own_options_match_torch(name: str, options: list[dict]) -> None:
    kwargs = {"lr": 0.02, "momentum": 0.9} if name == "SGD" else {"lr": 0.02}
    dl_opt, _, _, _ = run_both(name, kwargs, group_options=options)
    assert dl_opt.param_groups[0]["lr"] == options[0]["lr"]
    assert dl_opt.param_groups[1]["lr"] == 0.02


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_param_group_keys_are_torch_keys(name: str) -> None:
    dl = getattr(optim, name)([Tensor(np.zeros(2, np.float32), requires_grad=True)], lr=0.1)
    th = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], lr=0.1)
    torch_only = {"foreach", "fused", "capturable", "differentiable"}
    assert set(dl.param_groups[0]) == set(th.param_groups[0]) - torch_only
    for key in dl.param_groups[0]:
        if key != "params":
            assert dl.param_groups[0][key] == th.param_groups[0][key], key


def test_defaults_match_torch() -> None:
    p = [Tensor(np.zeros(2, np.float32), requires_grad=True)]
    q = [torch.zeros(2, requires_grad=True)]
    for name in ["SGD", "Adam", "AdamW", "RMSprop"]:
        dl, th = getattr(optim, name)(p), getattr(torch.optim, name)(q)
        for key, value in dl.defaults.items():
            assert value == th.defaults[key], (name, key)


# ---- dtypes and in-place updates ----------------------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_float32_stays_float32_even_with_numpy_float64_hyperparameters(name: str) -> None:
    problem = Problem()
    params = problem.dl_params()
    kwargs = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {"amsgrad": True}
    opt = getattr(optim, name)(params, lr=0.01, weight_decay=0.01, **kwargs)
    opt.param_groups[0]["lr"] = np.float64(0.01)  # as a numpy-computed schedule might set it
    ids = [id(p.data) for p in params]
    for t in range(3):
        problem.set_dl_grads(params, t)
        opt.step()
    assert [id(p.data) for p in params] == ids, "updates must be in place"
    for p in params:
        assert p.data.dtype == np.float32
        for value in opt.state[p].values():
            assert not isinstance(value, np.ndarray) or value.dtype == np.float32


def test_float64_parameters_stay_float64_and_match_torch() -> None:
    problem = Problem(dtype=np.float64)
    dl_p, th_p = problem.dl_params(), problem.th_params()
    dl_opt = optim.Adam(dl_p, lr=0.05)
    th_opt = torch.optim.Adam(th_p, lr=0.05)
    for t in range(20):
        problem.set_dl_grads(dl_p, t)
        problem.set_th_grads(th_p, t)
        dl_opt.step()
        th_opt.step()
    for a, b in zip(dl_p, th_p):
        assert a.data.dtype == np.float64
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12)


def test_float64_gradient_is_cast_to_the_parameter_dtype() -> None:
    p = Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.5, momentum=0.9)
    p.grad = np.ones(3, np.float64)
    opt.step()
    assert p.data.dtype == np.float32
    assert opt.state[p]["momentum_buffer"].dtype == np.float32
    np.testing.assert_allclose(p.data, 0.5)


def test_step_bumps_the_version_and_leaves_grad_unchanged() -> None:
    p = Tensor(np.ones(3, np.float32), requires_grad=True)
    g = np.array([1.0, 2.0, 3.0], np.float32)
    p.grad = g
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True,
                    maximize=True)
    version = p._version
    opt.step()
    assert p._version == version + 1
    assert np.shares_memory(p.grad, g)  # the same memory (.grad is a Grad view of g)
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])


def test_params_without_grad_are_skipped() -> None:
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(2, np.float32), requires_grad=True)
    frozen = Tensor(np.ones(2, np.float32))  # requires_grad=False is allowed, as in torch
    opt = optim.Adam([a, b, frozen], lr=0.1)
    a.grad = np.ones(3, np.float32)
    version = b._version
    opt.step()
    assert not np.allclose(a.data, 1.0)
    np.testing.assert_array_equal(b.data, 1.0)
    assert b._version == version
    assert b not in opt.state and frozen not in opt.state


def test_works_with_autograd_and_closure() -> None:
    w = Tensor(np.array([3.0, -2.0], np.float32), requires_grad=True)
    tw = torch.tensor([3.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.5)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.5)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    def tclosure() -> torch.Tensor:
        topt.zero_grad()
        loss = (tw * tw).sum()
        loss.backward()
        return loss

    for _ in range(10):
        loss = opt.step(closure)
        tloss = topt.step(tclosure)
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-5)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-5)


def test_zero_grad() -> None:
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    a.grad = np.ones(3, np.float32)
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and not grad.any()
    assert b.grad is None
    b.grad = np.broadcast_to(np.float32(1.0), (2,))  # read-only: replaced by zeros instead
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(b.grad, 0.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


# ---- groups, names, repr ------------------------------------------------------------
def test_add_param_group_and_named_params() -> None:
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = optim.SGD([("a", a)], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["param_names"] == ["a"]
    opt.add_param_group({"params": [("b", b)], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    a.grad, b.grad = np.ones(3, np.float32), np.ones(2, np.float32)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.5)
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 1" in text and "lr: 0.5" in text


def test_params_may_be_a_generator() -> None:
    params = [Tensor(np.ones(2, np.float32), requires_grad=True) for _ in range(3)]
    opt = optim.Adam(p for p in params)
    assert len(opt.param_groups[0]["params"]) == 3


# ---- state_dict ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.05, "amsgrad": True}),
        ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ],
)
def test_state_dict_round_trip_resumes_identically(name: str, kwargs: dict) -> None:
    problem = Problem()
    ref_p = problem.dl_params()
    ref = getattr(optim, name)(groups_of(ref_p, [{"lr": 0.02}, {}]), **kwargs)
    for t in range(STEPS):
        problem.set_dl_grads(ref_p, t)
        ref.step()

    first_p = problem.dl_params()
    first = getattr(optim, name)(groups_of(first_p, [{"lr": 0.02}, {}]), **kwargs)
    for t in range(40):
        problem.set_dl_grads(first_p, t)
        first.step()
    saved = pickle.loads(pickle.dumps(first.state_dict()))
    snapshot = copy.deepcopy(first.state_dict())

    assert sorted(saved["state"]) == [0, 1, 2]
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1, 2]]
    assert saved["param_groups"][0]["lr"] == 0.02

    resumed_p = [Tensor(p.data.copy(), requires_grad=True) for p in first_p]
    resumed = getattr(optim, name)(groups_of(resumed_p, [{}, {}]), **kwargs)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 0.02
    for t in range(40, STEPS):
        problem.set_dl_grads(resumed_p, t)
        resumed.step()
        problem.set_dl_grads(first_p, t)
        first.step()
    for a, b, c in zip(resumed_p, ref_p, first_p):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(c.data, b.data)
    # the saved dict is a snapshot: later steps did not change it
    for k, s in snapshot["state"].items():
        for key, value in s.items():
            np.testing.assert_array_equal(value, saved["state"][k][key])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 0.05}),
     ("RMSprop", {"lr": 0.01, "centered": True})],
)
def test_loads_a_torch_state_dict_and_continues_like_torch(name: str, kwargs: dict) -> None:
    problem = Problem()
    th_p = problem.th_params()
    th_opt = getattr(torch.optim, name)(th_p, **kwargs)
    for t in range(30):
        problem.set_th_grads(th_p, t)
        th_opt.step()
    th_state = th_opt.state_dict()
    as_numpy = {
        "state": {
            i: {k: v.numpy().copy() for k, v in s.items()} for i, s in th_state["state"].items()
        },
        "param_groups": copy.deepcopy(th_state["param_groups"]),
    }
    dl_p = [Tensor(p.detach().numpy().copy(), requires_grad=True) for p in th_p]
    dl_opt = getattr(optim, name)(dl_p, **kwargs)
    dl_opt.load_state_dict(as_numpy)
    for t in range(30, 60):
        problem.set_dl_grads(dl_p, t)
        problem.set_th_grads(th_p, t)
        dl_opt.step()
        th_opt.step()
        assert_same(dl_p, th_p, f"after step {t + 1}")


# ---- errors -------------------------------------------------------------------------
def _p(n: int = 2) -> Tensor:
    return Tensor(np.zeros(n, np.float32), requires_grad=True)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: optim.SGD([_p()], lr=-0.1), r"Invalid learning rate: -0\.1"),
        (lambda: optim.SGD([_p()], lr=0.1, momentum=-0.5), r"Invalid momentum value: -0\.5"),
        (lambda: optim.SGD([_p()], weight_decay=-1.0), r"Invalid weight_decay value: -1\.0"),
        (lambda: optim.SGD([_p()], lr=0.1, nesterov=True),
         r"Nesterov momentum requires a momentum and zero dampening, got momentum=0 "),
        (lambda: optim.SGD([_p()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
         r"zero dampening, got momentum=0\.9 and dampening=0\.1"),
        (lambda: optim.SGD([{"params": [_p()], "lr": -1.0}], lr=0.1),
         r"Invalid learning rate: -1\.0"),
        (lambda: optim.Adam([_p()], lr=-1.0), r"Invalid learning rate: -1\.0"),
        (lambda: optim.Adam([_p()], eps=-1e-8), r"Invalid epsilon value: -1e-08"),
        (lambda: optim.Adam([_p()], betas=(1.0, 0.999)),
         r"Invalid beta parameter at index 0: 1\.0"),
        (lambda: optim.AdamW([_p()], betas=(0.9, -0.1)),
         r"Invalid beta parameter at index 1: -0\.1"),
        (lambda: optim.Adam([_p()], betas=(0.9,)), r"betas must be a pair"),
        (lambda: optim.Adam([_p()], weight_decay=-0.1), r"Invalid weight_decay value: -0\.1"),
        (lambda: optim.RMSprop([_p()], alpha=-0.9), r"Invalid alpha value: -0\.9"),
        (lambda: optim.RMSprop([_p()], momentum=-0.9), r"Invalid momentum value: -0\.9"),
        (lambda: optim.RMSprop([_p()], eps=-1.0), r"Invalid epsilon value: -1\.0"),
        (lambda: optim.SGD([], lr=0.1), r"optimizer got an empty parameter list"),
        (lambda: optim.SGD([{"params": []}], lr=0.1), r"optimizer got an empty parameter list"),
        (lambda: optim.SGD([{"lr": 0.1}], lr=0.1), r"a param group must have a 'params' entry"),
    ],
)
def test_bad_options_raise_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_same_parameter_twice_is_an_error() -> None:
    p, q = _p(3), _p()
    with pytest.raises(ValueError, match=r"params\[0\] and params\[2\] \(shape \(3,\)\) are the"):
        optim.SGD([p, q, p], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        optim.SGD([{"params": [p]}, {"params": [q, p]}], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        opt.add_param_group({"params": [p]})


def test_params_of_the_wrong_kind_are_errors() -> None:
    with pytest.raises(TypeError, match=r"should be an iterable of Tensors or dicts, but got "
                                        r"dlbd_lib\.tensor\.Tensor"):
        optim.SGD(_p(), lr=0.1)
    with pytest.raises(TypeError, match=r"one of the params is numpy\.ndarray \(params\[1\]\); "
                                        r"wrap arrays in dlbd_lib\.Tensor"):
        optim.SGD([_p(), np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match=r"got one dict; put the param group in a list"):
        optim.SGD({"params": [_p()]}, lr=0.1)
    with pytest.raises(TypeError, match="ordering of tensors in sets"):
        optim.SGD({_p()}, lr=0.1)
    with pytest.raises(TypeError, match="param_group must be a dict, but got list"):
        optim.SGD([_p()], lr=0.1).add_param_group([_p()])
    with pytest.raises(DtypeError, match=r"floating-point tensors, but params\[0\] has dtype int"):
        optim.SGD([Tensor(np.arange(3))], lr=0.1)
    with pytest.raises(ValueError, match="Some param names are missing"):
        optim.SGD([("a", _p()), _p()], lr=0.1)
    opt = optim.SGD([("a", _p())], lr=0.1)
    with pytest.raises(ValueError, match="cannot add param group without names"):
        opt.add_param_group({"params": [_p()]})


def test_non_leaf_tensor_is_an_error() -> None:
    x = _p()
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([x * 2.0], lr=0.1)


def test_grad_of_the_wrong_shape_is_an_error() -> None:
    p = Tensor(np.zeros((3, 4), np.float32), requires_grad=True)
    opt = optim.Adam([p])
    p.grad = np.zeros((4, 3), np.float32)
    with pytest.raises(ShapeError, match=r"Adam.step\(\): a parameter of shape \(3, 4\) has a "
                                         r"\.grad of shape \(4, 3\)"):
        opt.step()


def test_load_state_dict_errors() -> None:
    a, b = _p(3), _p(2)
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = np.ones(3, np.float32), np.ones(2, np.float32)
    opt.step()
    saved = opt.state_dict()
    two_groups = optim.SGD([{"params": [_p(3)]}, {"params": [_p(2)]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups: 1, but the "
                                         "optimizer has 2"):
        two_groups.load_state_dict(saved)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict, 1 in the"):
        optim.SGD([_p(3)], lr=0.1).load_state_dict(saved)
    with pytest.raises(ShapeError, match=r"loaded state 'momentum_buffer' of parameter 0 has "
                                         r"shape \(3,\), but the parameter has shape \(2,\)"):
        optim.SGD([_p(2), _p(3)], lr=0.1).load_state_dict(saved)


def test_step_of_the_base_class_is_abstract() -> None:
    opt = optim.Optimizer([_p()], {"lr": 0.1})
    with pytest.raises(NotImplementedError):
        opt.step()


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_blockwise_update_of_a_big_parameter_is_the_whole_array_update(
        name: str, kwargs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 x 70,001 elements: several 32k blocks and a ragged last one
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 70_001)).astype(np.float32)
    grads = [rng.standard_normal(start.shape).astype(np.float32) for _ in range(3)]

    def trajectory() -> np.ndarray:
        p = Tensor(start.copy(), requires_grad=True)
        opt = getattr(optim, name)([p], **kwargs)
        for g in grads:
            p.grad = g
            opt.step()
        return p.data

    blocked = trajectory()
    monkeypatch.setattr(dlbd_lib.optim.optimizer, "_BLOCK", 1 << 30)
    whole = trajectory()
    np.testing.assert_array_equal(blocked, whole)
    assert not np.array_equal(blocked, start)
