"""The gradient checkers themselves: they pass right backwards and catch wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from dlbd_lib import Function, Tensor
from dlbd_lib.gradcheck import gradcheck, gradcheck_projection, numerical_grad, relative_error


class Cube(Function):
    """x^3 with a switchable mistake in backward."""

    mistake = "none"

    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, g):
        grad = g * 3 * self.x ** 2  # d x^3/dx = 3 x^2
        if self.mistake == "factor":
            grad = g * 2 * self.x ** 2
        elif self.mistake == "one_element":
            grad = grad.copy()
            grad.reshape(-1)[-1] *= 1.5
        elif self.mistake == "ignores_upstream":
            grad = 3 * self.x ** 2
        return grad


class WrongFactor(Cube):
    mistake = "factor"


class WrongOneElement(Cube):
    mistake = "one_element"


class IgnoresUpstream(Cube):
    mistake = "ignores_upstream"


class SwappedMatMul(Function):
    """a @ b whose backward mixes up the two gradients' transposes."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        return g @ self.b.T, g.T @ self.a  # the second should be a^T g (its transpose)


def inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.uniform(0.5, 1.5, s), requires_grad=True) for s in shapes]


@pytest.mark.parametrize("check", [gradcheck, gradcheck_projection])
def test_a_right_backward_passes(check):
    assert check(lambda x: Cube.apply(x), inputs((3, 4))) is True
    assert check(lambda a, b: (a @ b).tanh(), inputs((3, 4), (4, 2))) is True


@pytest.mark.parametrize("check", [gradcheck, gradcheck_projection])
@pytest.mark.parametrize("wrong", [WrongFactor, WrongOneElement, IgnoresUpstream])
def test_a_wrong_backward_is_caught(check, wrong):
    with pytest.raises(AssertionError):
        check(lambda x: wrong.apply(x), inputs((3, 4)))


@pytest.mark.parametrize("check", [gradcheck, gradcheck_projection])
def test_a_wrong_gradient_of_the_second_input_is_caught(check):
    with pytest.raises(AssertionError):
        check(lambda a, b: SwappedMatMul.apply(a, b), inputs((3, 3), (3, 3)))


def test_gradcheck_message_names_input_index_and_both_values():
    a, b = inputs((2,), (3, 2))
    with pytest.raises(AssertionError, match=r"gradient of input 1 \(shape \(3, 2\)\) is wrong: "
                                             r"at index .* backward gave .* finite differences"):
        gradcheck(lambda p, q: p * WrongFactor.apply(q), [a, b])


def test_projection_message_gives_both_directional_derivatives():
    with pytest.raises(AssertionError, match=r"directional derivative 0: backward gives .*"
                                             r"finite differences .*relative error"):
        gradcheck_projection(lambda x: WrongFactor.apply(x), inputs((30, 30)))


def test_inputs_are_restored_and_frozen_inputs_skipped():
    x, = inputs((3, 4))
    c = Tensor(np.linspace(0.5, 2.0, 4))  # requires_grad=False: a constant
    before = x.data.copy()
    for check in (gradcheck, gradcheck_projection):
        assert check(lambda p, q: (p * q).exp(), [x, c])
        np.testing.assert_array_equal(x.data, before)
    assert numerical_grad(lambda p, q: p * q, [x, c], np.ones((3, 4)))[1] is None


def test_non_contiguous_and_0d_inputs():
    base = np.random.default_rng(1).uniform(0.5, 1.5, (4, 3))
    x = Tensor(base.T, requires_grad=True)  # a transposed view: not C-contiguous
    assert not x.data.flags.c_contiguous
    assert gradcheck(lambda v: (v * v).sum(axis=0), [x])
    with pytest.raises(AssertionError):
        gradcheck(lambda v: WrongFactor.apply(v), [x])
    s = Tensor(np.array(0.7), requires_grad=True)
    assert gradcheck(lambda v: v.exp() * v, [s])
    with pytest.raises(AssertionError):
        gradcheck(lambda v: WrongFactor.apply(v), [s])


def test_numerical_grad_is_the_weighted_derivative():
    x = Tensor(np.array([1.0, 2.0, -3.0]), requires_grad=True)
    u = np.array([1.0, -2.0, 0.5])
    (g,) = numerical_grad(lambda v: v * v, [x], u)
    np.testing.assert_allclose(g, 2 * x.data * u, rtol=1e-7)


def test_relative_error():
    a = np.array([1.0, 2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(a, a * (1 + 1e-6)) < 1e-6
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
