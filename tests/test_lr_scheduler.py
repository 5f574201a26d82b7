"""dlbd_lib.optim.lr_scheduler against torch.optim.lr_scheduler: the same lr at every step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import dlbd_lib.optim as optim
from dlbd_lib.optim import lr_scheduler as dl_sched
from dlbd_lib.tensor import Tensor

th_sched = torch.optim.lr_scheduler
STEPS = 100


def make_pair(name: str = "SGD", lrs: tuple = (0.1, 0.03), **kwargs) -> tuple:
    """The same optimizer in both engines, with two param groups of different lrs."""
    dl_p = [Tensor(np.zeros(3, np.float32), requires_grad=True) for _ in lrs]
    th_p = [torch.zeros(3, requires_grad=True) for _ in lrs]
    dl = getattr(optim, name)([{"params": [p], "lr": lr} for p, lr in zip(dl_p, lrs)], **kwargs)
    th = getattr(torch.optim, name)(
        [{"params": [p], "lr": lr} for p, lr in zip(th_p, lrs)], **kwargs
    )
    return dl, th


def momentum_of(opt) -> list[float]:
    key = "betas" if "betas" in opt.defaults else "momentum"
    return [g["betas"][0] if key == "betas" else g["momentum"] for g in opt.param_groups]


def assert_same_lrs(dl_s, th_s, dl_opt, th_opt, steps: int = STEPS,
                    check_momentum: bool = False) -> list[list[float]]:
    """Step both schedulers `steps` times (after an optimizer step), comparing every lr."""
    history = []
    for t in range(steps + 1):
        if t:
            dl_opt.step()
            th_opt.step()
            dl_s.step()
            th_s.step()
        dl_lr, th_lr = dl_s.get_last_lr(), th_s.get_last_lr()
        assert isinstance(dl_lr, list)
        np.testing.assert_allclose(dl_lr, th_lr, rtol=1e-7, atol=1e-15, err_msg=f"step {t}")
        assert [g["lr"] for g in dl_opt.param_groups] == pytest.approx(dl_lr, rel=0, abs=0)
        if check_momentum:
            np.testing.assert_allclose(momentum_of(dl_opt), momentum_of(th_opt), rtol=1e-7,
                                       err_msg=f"momentum at step {t}")
        history.append(dl_lr)
    return history


SCHEDULERS = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [10, 30, 30, 60], "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.95}),
    ("CosineAnnealingLR", {"T_max": 30}),
    ("CosineAnnealingLR", {"T_max": 40, "eta_min": 0.001}),
    ("LinearLR", {"start_factor": 0.1, "total_iters": 20}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 50}),
    ("LambdaLR", {"lr_lambda": lambda t: 1.0 / (1 + 0.1 * t)}),
    ("LambdaLR", {"lr_lambda": [lambda t: 0.9**t, lambda t: min(1.0, (t + 1) / 10)]}),
]


@pytest.mark.parametrize(("name", "kwargs"), SCHEDULERS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_lr_sequence_matches_torch(name: str, kwargs: dict) -> None:
    dl_opt, th_opt = make_pair(momentum=0.9)
    dl_s = getattr(dl_sched, name)(dl_opt, **kwargs)
    th_s = getattr(th_sched, name)(th_opt, **kwargs)
    assert [g["initial_lr"] for g in dl_opt.param_groups] == [0.1, 0.03]
    assert_same_lrs(dl_s, th_s, dl_opt, th_opt)


def test_cosine_annealing_reaches_eta_min_and_follows_the_closed_form() -> None:
    dl_opt, _ = make_pair(lrs=(0.1,))
    sched = dl_sched.CosineAnnealingLR(dl_opt, T_max=50, eta_min=0.01)
    for t in range(1, 51):
        dl_opt.step()
        sched.step()
        closed = 0.01 + (0.1 - 0.01) * (1 + np.cos(np.pi * t / 50)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(closed, rel=1e-9)
    assert sched.get_last_lr()[0] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"momentum": 0.9}),
        ("SGD", {"momentum": 0.9, "nesterov": True}),
        ("Adam", {}),
        ("AdamW", {"amsgrad": True}),
        ("RMSprop", {"momentum": 0.5}),
    ],
)
@pytest.mark.parametrize(
    "one_cycle",
    [
        {"max_lr": 0.5, "total_steps": STEPS},
        {"max_lr": [0.5, 0.2], "epochs": 10, "steps_per_epoch": 10, "anneal_strategy": "linear"},
        {"max_lr": 0.5, "total_steps": STEPS, "three_phase": True, "pct_start": 0.25,
         "div_factor": 10.0, "final_div_factor": 100.0},
        {"max_lr": 0.5, "total_steps": STEPS, "base_momentum": [0.8, 0.7],
         "max_momentum": 0.9},
        {"max_lr": 0.5, "total_steps": STEPS, "cycle_momentum": False},
    ],
    ids=["cos", "linear-epochs", "three-phase", "momentum-list", "no-momentum"],
)
def test_one_cycle_lr_and_momentum_match_torch(name: str, kwargs: dict, one_cycle: dict) -> None:
    dl_opt, th_opt = make_pair(name, **kwargs)
    dl_s = dl_sched.OneCycleLR(dl_opt, **one_cycle)
    th_s = th_sched.OneCycleLR(th_opt, **one_cycle)
    history = assert_same_lrs(dl_s, th_s, dl_opt, th_opt, check_momentum=True)
    peak = max(range(len(history)), key=lambda t: history[t][0])
    assert history[peak][0] == pytest.approx(0.5, rel=1e-3)
    with pytest.raises(ValueError, match="Tried to step 101 times. The specified number of "
                                         "total steps is 100"):
        dl_s.step()


def test_one_cycle_cycles_adam_beta1_and_keeps_beta2() -> None:
    dl_opt, _ = make_pair("Adam", betas=(0.9, 0.99))
    dl_sched.OneCycleLR(dl_opt, max_lr=0.1, total_steps=10)
    assert dl_opt.param_groups[0]["betas"] == (0.95, 0.99)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "min", "patience": 3},
        {"mode": "min", "patience": 2, "factor": 0.5, "cooldown": 3, "threshold": 0.05},
        {"mode": "min", "patience": 1, "threshold_mode": "abs", "threshold": 0.1,
         "min_lr": [1e-3, 5e-4]},
        {"mode": "max", "patience": 2, "factor": 0.3, "min_lr": 1e-3},
        {"mode": "max", "patience": 0, "threshold_mode": "abs", "eps": 1e-3},
    ],
)
def test_reduce_on_plateau_matches_torch(kwargs: dict) -> None:
    rng = np.random.default_rng(0)
    # improves, then stalls with noise, then improves a little, then stalls again
    metrics = np.concatenate([
        np.linspace(1.0, 0.5, 20), 0.5 + 0.02 * rng.standard_normal(30),
        np.linspace(0.5, 0.4, 10), 0.4 + 0.01 * rng.standard_normal(40),
    ])
    if kwargs["mode"] == "max":
        metrics = 1 - metrics
    dl_opt, th_opt = make_pair(momentum=0.9)
    dl_s = dl_sched.ReduceLROnPlateau(dl_opt, **kwargs)
    th_s = th_sched.ReduceLROnPlateau(th_opt, **kwargs)
    reductions = 0
    for t, m in enumerate(metrics):
        before = dl_s.get_last_lr()
        dl_opt.step()
        th_opt.step()
        dl_s.step(np.float32(m) if t % 2 else float(m))
        th_s.step(float(np.float32(m)) if t % 2 else float(m))
        assert dl_s.get_last_lr() == pytest.approx(th_s.get_last_lr(), rel=1e-7), f"epoch {t}"
        reductions += dl_s.get_last_lr() != before
    assert reductions >= 2


def test_reduce_on_plateau_accepts_a_tensor_metric() -> None:
    dl_opt, _ = make_pair()
    sched = dl_sched.ReduceLROnPlateau(dl_opt, patience=0)
    sched.step(Tensor(np.float32(1.0)))
    sched.step(Tensor(np.float32(2.0)))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.003])


def test_two_schedulers_chained_match_torch() -> None:
    dl_opt, th_opt = make_pair(momentum=0.9)
    dl_a = dl_sched.StepLR(dl_opt, step_size=10, gamma=0.5)
    dl_b = dl_sched.CosineAnnealingLR(dl_opt, T_max=25)
    th_a = th_sched.StepLR(th_opt, step_size=10, gamma=0.5)
    th_b = th_sched.CosineAnnealingLR(th_opt, T_max=25)
    for t in range(STEPS):
        dl_opt.step()
        th_opt.step()
        for s in (dl_a, dl_b, th_a, th_b):
            s.step()
        assert dl_b.get_last_lr() == pytest.approx(th_b.get_last_lr(), rel=1e-7), t
    dl_opt, th_opt = make_pair(momentum=0.9)
    dl_c = dl_sched.ChainedScheduler([dl_sched.LinearLR(dl_opt, 0.1, total_iters=10),
                                      dl_sched.ExponentialLR(dl_opt, 0.97)])
    th_c = th_sched.ChainedScheduler([th_sched.LinearLR(th_opt, 0.1, total_iters=10),
                                      th_sched.ExponentialLR(th_opt, 0.97)])
    assert_same_lrs(dl_c, th_c, dl_opt, th_opt)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("StepLR", {"step_size": 7}), ("CosineAnnealingLR", {"T_max": 30}),
     ("OneCycleLR", {"max_lr": 0.5, "total_steps": STEPS}),
     ("LambdaLR", {"lr_lambda": lambda t: 0.97**t})],
)
def test_state_dict_resumes_the_schedule(name: str, kwargs: dict) -> None:
    ref_opt, _ = make_pair(momentum=0.9)
    ref = getattr(dl_sched, name)(ref_opt, **kwargs)
    expected = []
    for _ in range(60):
        ref_opt.step()
        ref.step()
        expected.append(ref.get_last_lr())
    opt, _ = make_pair(momentum=0.9)
    sched = getattr(dl_sched, name)(opt, **kwargs)
    for _ in range(25):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in saved_sched
    new_opt, _ = make_pair(momentum=0.9)
    new = getattr(dl_sched, name)(new_opt, **kwargs)
    new_opt.load_state_dict(saved_opt)
    new.load_state_dict(saved_sched)
    got = expected[:25]
    for _ in range(35):
        new_opt.step()
        new.step()
        got.append(new.get_last_lr())
    assert got == expected


# ---- the momentum schedule (dlbd's own) ----------------------------------------------
def test_lambda_momentum_schedule_drives_sgd_exactly_like_torch() -> None:
    """momentum_t = base * lambda(t); torch gets the same values by hand, same trajectory."""
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((5, 3)).astype(np.float32)
    grads = rng.standard_normal((60, 5, 3)).astype(np.float32)
    p, tp = Tensor(x0.copy(), requires_grad=True), torch.tensor(x0.copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.05, momentum=0.9, nesterov=True)
    topt = torch.optim.SGD([tp], lr=0.05, momentum=0.9, nesterov=True)
    warmup = dl_sched.LambdaMomentum(opt, lambda t: min(1.0, 0.5 + 0.05 * t))
    assert warmup.get_last_momentum() == [pytest.approx(0.45)]
    assert opt.param_groups[0]["initial_momentum"] == 0.9
    for t in range(60):
        topt.param_groups[0]["momentum"] = 0.9 * min(1.0, 0.5 + 0.05 * t)
        p.grad = grads[t] + p.data
        tp.grad = torch.from_numpy(grads[t] + tp.detach().numpy())
        opt.step()
        topt.step()
        warmup.step()
        assert warmup.get_last_momentum() == [0.9 * min(1.0, 0.5 + 0.05 * (t + 1))]
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_lambda_momentum_sets_adam_beta1_and_can_give_the_value_itself() -> None:
    opt, _ = make_pair("Adam", betas=(0.9, 0.99))
    sched = dl_sched.LambdaMomentum(opt, [lambda t: 0.5, lambda t: 0.8 - 0.1 * t],
                                    base_momentum=1.0)
    assert [g["betas"] for g in opt.param_groups] == [(0.5, 0.99), (0.8, 0.99)]
    assert "initial_momentum" not in opt.param_groups[0]
    opt.step()
    sched.step()
    assert sched.get_last_momentum() == pytest.approx([0.5, 0.7])
    state = sched.state_dict()
    assert state["last_epoch"] == 1 and "lambdas" not in state


def test_momentum_scheduler_errors() -> None:
    opt, _ = make_pair()  # SGD without momentum
    with pytest.raises(ValueError, match=r"param_groups\[0\] has momentum 0, so every scaled"):
        dl_sched.LambdaMomentum(opt, lambda t: 1.0)
    assert "initial_momentum" not in opt.param_groups[0]
    adam, _ = make_pair("Adam")
    with pytest.raises(ValueError, match=r"gave param_groups\[0\] beta1 1\.0 at epoch 0; beta1 "
                                         r"must be \[0, 1\)"):
        dl_sched.LambdaMomentum(adam, lambda t: 1.0, base_momentum=1.0)
    sgd, _ = make_pair(momentum=0.5)
    with pytest.raises(ValueError, match=r"gave param_groups\[0\] momentum -0\.5 at epoch 0; "
                                         r"momentum must be >= 0"):
        dl_sched.LambdaMomentum(sgd, lambda t: -1.0)
    with pytest.raises(ValueError, match="Expected 2 momentum_lambdas, but got 1"):
        dl_sched.LambdaMomentum(sgd, [lambda t: 1.0])
    with pytest.raises(ValueError, match="base_momentum has 3 values, param_groups has 2"):
        dl_sched.LambdaMomentum(sgd, lambda t: 1.0, base_momentum=[0.9, 0.9, 0.9])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1 to be "
                                         "scheduled by LambdaMomentum; Optimizer has neither"):
        dl_sched.LambdaMomentum(optim.Optimizer([Tensor(np.zeros(1, np.float32))],
                                                {"lr": 0.1}), lambda t: 1.0)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        dl_sched.LambdaMomentum([], lambda t: 1.0)


# ---- errors and warnings ------------------------------------------------------------
def _opt():
    return make_pair(momentum=0.9)[0]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: dl_sched.OneCycleLR(_opt(), 0.1, total_steps=0),
         "Expected positive integer total_steps, but got 0"),
        (lambda: dl_sched.OneCycleLR(_opt(), 0.1, epochs=-2, steps_per_epoch=3),
         "Expected positive integer epochs, but got -2"),
        (lambda: dl_sched.OneCycleLR(_opt(), 0.1, epochs=2, steps_per_epoch=1.5),
         "Expected positive integer steps_per_epoch, but got 1.5"),
        (lambda: dl_sched.OneCycleLR(_opt(), 0.1, epochs=2),
         r"You must define either total_steps OR \(epochs AND steps_per_epoch\)"),
        (lambda: dl_sched.OneCycleLR(_opt(), 0.1, total_steps=10, pct_start=1.5),
         "Expected float between 0 and 1 pct_start, but got 1.5"),
        (lambda: dl_sched.OneCycleLR(_opt(), 0.1, total_steps=10, anneal_strategy="exp"),
         "anneal_strategy must be one of 'cos' or 'linear', instead got exp"),
        (lambda: dl_sched.OneCycleLR(_opt(), [0.1, 0.2, 0.3], total_steps=10),
         "max_lr must have the same length as optimizer.param_groups. max_lr has 3 values, "
         "param_groups has 2"),
        (lambda: dl_sched.OneCycleLR(optim.Optimizer([Tensor(np.zeros(1, np.float32))],
                                                     {"lr": 0.1}), 0.1, total_steps=10),
         "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"),
        (lambda: dl_sched.ReduceLROnPlateau(_opt(), factor=1.0),
         r"Factor should be < 1\.0, got factor=1\.0"),
        (lambda: dl_sched.ReduceLROnPlateau(_opt(), mode="median"), "mode median is unknown"),
        (lambda: dl_sched.ReduceLROnPlateau(_opt(), threshold_mode="pct"),
         "threshold mode pct is unknown"),
        (lambda: dl_sched.ReduceLROnPlateau(_opt(), min_lr=[0.1]), "expected 2 min_lrs, got 1"),
        (lambda: dl_sched.LambdaLR(_opt(), [lambda t: 1.0]), "Expected 2 lr_lambdas, but got 1"),
        (lambda: dl_sched.StepLR(_opt(), step_size=0), "step_size must be a positive integer"),
        (lambda: dl_sched.CosineAnnealingLR(_opt(), T_max=0), "T_max must be a positive"),
        (lambda: dl_sched.LinearLR(_opt(), start_factor=0.0),
         "Starting multiplicative factor expected to be greater than 0"),
        (lambda: dl_sched.LinearLR(_opt(), end_factor=2.0),
         "Ending multiplicative factor expected to be between 0 and 1, got end_factor=2.0"),
        (lambda: dl_sched.ChainedScheduler([]), "expects at least one scheduler"),
    ],
)
def test_bad_scheduler_arguments_raise_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_scheduler_type_and_resume_errors() -> None:
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        dl_sched.StepLR([], step_size=3)
    with pytest.raises(TypeError, match="dict is not an Optimizer"):
        dl_sched.ReduceLROnPlateau({})
    with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in "
                                       r"param_groups\[0\] when resuming scheduler with "
                                       r"last_epoch=5"):
        dl_sched.StepLR(_opt(), step_size=3, last_epoch=5)
    opt = _opt()
    plateau = dl_sched.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        dl_sched.ChainedScheduler([dl_sched.StepLR(opt, 3), plateau])
    with pytest.raises(ValueError, match="belong to the same optimizer"):
        dl_sched.ChainedScheduler([dl_sched.StepLR(opt, 3), dl_sched.StepLR(_opt(), 3)])
    opt = make_pair(momentum=0.9)[0]
    plateau = dl_sched.ReduceLROnPlateau(opt, min_lr=[0.0, 0.0], patience=0)
    opt.add_param_group({"params": [Tensor(np.zeros(1, np.float32), requires_grad=True)]})
    plateau.step(1.0)
    with pytest.raises(RuntimeError, match=r"The number of param groups in the `optimizer` "
                                           r"\(3\) differs from when `ReduceLROnPlateau` was "
                                           r"initialized \(2\)"):
        plateau.step(2.0)


def test_warns_when_scheduler_steps_before_optimizer() -> None:
    opt = _opt()
    sched = dl_sched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before "
                                         r"`optimizer.step\(\)`"):
        sched.step()
    opt = _opt()
    sched = dl_sched.ExponentialLR(opt, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
        sched.step()
    with pytest.warns(UserWarning, match=r"please use `get_last_lr\(\)`"):
        sched.get_lr()


def test_base_scheduler_get_lr_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        dl_sched.LRScheduler(_opt())
