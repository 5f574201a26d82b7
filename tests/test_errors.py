"""Every error the engine promises: the right class, and a message naming what was wrong."""

from __future__ import annotations

import numpy as np
import pytest

import dlbd_lib as dl
import dlbd_lib.functional as F
from dlbd_lib import AnomalyError, DtypeError, GradError, ShapeError, Tensor
from dlbd_lib.errors import fmt_shape
from dlbd_lib.gradcheck import gradcheck, gradcheck_projection


def ones(*shape, dtype=np.float32, requires_grad=False):
    return Tensor(np.ones(shape, dtype), requires_grad=requires_grad)


def test_error_classes_are_also_the_builtin_types():
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, RuntimeError)
    assert issubclass(DtypeError, TypeError) and issubclass(DtypeError, RuntimeError)
    assert issubclass(GradError, RuntimeError)
    assert issubclass(AnomalyError, RuntimeError) and issubclass(AnomalyError, FloatingPointError)
    assert (dl.ShapeError, dl.DtypeError, dl.GradError, dl.AnomalyError) == (
        ShapeError, DtypeError, GradError, AnomalyError)


def test_fmt_shape():
    assert (fmt_shape((3, 4)), fmt_shape((5,)), fmt_shape(())) == ("(3, 4)", "(5,)", "()")


# ---- shapes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b, why", [
    ((3, 4), (5, 2), r"4 \(last dim of the first\) != 5"),
    ((4,), (3,), "4 .* != 3"),
    ((2, 3, 4), (3, 4, 5), "batch dimensions"),
    ((3, 4), (2, 5, 6), "4 .* != 5"),
])
def test_matmul_shape_mismatch_names_both_shapes(a, b, why):
    with pytest.raises(ShapeError) as info:
        ones(*a) @ ones(*b)
    msg = str(info.value)
    assert "matmul" in msg and fmt_shape(a) in msg and fmt_shape(b) in msg
    assert info.match(why)


def test_matmul_with_a_0d_operand():
    with pytest.raises(ShapeError, match=r"matmul: shapes \(\) and \(3,\).*at least one dim"):
        F.matmul(Tensor(2.0), ones(3))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_incompatible_broadcast_names_both_shapes(op):
    with pytest.raises(ShapeError, match=rf"{op}: shapes \(3, 4\) and \(5,\) cannot be broadcast"):
        getattr(F, op)(ones(3, 4), ones(5))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 1, 4\)"):  # also a ValueError
        getattr(F, op)(ones(2, 3, requires_grad=True), ones(2, 1, 4))


def test_where_with_incompatible_shapes():
    with pytest.raises(ShapeError, match=r"where: shapes .*\(2,\).*\(3,\)"):
        F.where(np.array([True, False]), ones(2), ones(3))


def test_reshape_to_an_incompatible_shape():
    with pytest.raises(ShapeError, match=r"reshape .* shape \(3, 4\) \(12 elements\) into "
                                         r"shape \(5, 2\)"):
        ones(3, 4).reshape(5, 2)
    with pytest.raises(ShapeError, match=r"into shape \(5, -1\)"):
        ones(3, 4).view(5, -1)


def test_cat_and_stack_errors():
    with pytest.raises(ShapeError, match="cat.*at least one"):
        F.cat([])
    with pytest.raises(ShapeError, match="stack.*at least one"):
        F.stack([])
    with pytest.raises(ShapeError, match=r"cat: .*\(2, 3\) and \(2, 4\)"):
        F.cat([ones(2, 3), ones(2, 4)])
    with pytest.raises(ShapeError, match=r"stack: .*\(2, 3\) and \(3, 2\)"):
        F.stack([ones(2, 3), ones(3, 2)])


@pytest.mark.parametrize("call", [
    lambda x: x.sum(axis=2), lambda x: x.mean(axis=-3), lambda x: x.max(axis=(0, 5)),
    lambda x: x.transpose(0, 2), lambda x: x.permute(0, 3), lambda x: x.unsqueeze(4),
    lambda x: x.squeeze(2), lambda x: x.flatten(2), lambda x: F.cat([x, x], axis=2),
    lambda x: x.var(axis=9),
])
def test_axis_out_of_range(call):
    with pytest.raises(ShapeError, match="dim -?\\d+ is out of range"):
        call(ones(2, 3))
    with pytest.raises(IndexError, match="dim -?\\d+ is out of range for a tensor with 2 dim"):
        call(ones(2, 3))  # torch's type: IndexError


def test_transpose_needs_a_permutation():
    with pytest.raises(ShapeError, match=r"dims \(0, 0, 1\) are not a permutation .*\(2, 3, 4\)"):
        ones(2, 3, 4).permute(0, 0, 1)


def test_index_out_of_range_names_the_shape():
    with pytest.raises(ShapeError, match=r"getitem.*\(3, 2\).*index 5 is out of bounds"):
        ones(3, 2)[5]
    with pytest.raises(IndexError, match=r"index 5 is out of bounds"):
        ones(3, 2)[5]  # torch's type


def test_item_bool_len_on_the_wrong_shapes():
    with pytest.raises(ShapeError, match=r"one element, got shape \(2, 2\)"):
        ones(2, 2).item()
    with pytest.raises(ShapeError, match=r"truth value of a tensor of shape \(3,\) is ambiguous"):
        bool(ones(3))
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(Tensor(1.0))


def test_reductions_of_empty_or_integer_tensors():
    with pytest.raises(ShapeError, match=r"max\(\) of an empty tensor of shape \(0, 3\)"):
        Tensor(np.zeros((0, 3), np.float32)).max()
    with pytest.raises(ShapeError, match=r"min\(\) of an empty"):
        Tensor(np.zeros(0, np.float32)).min()
    with pytest.raises(DtypeError, match="mean.*int64"):
        Tensor([1, 2, 3]).mean()


# ---- backward misuse -------------------------------------------------------------------------
def test_backward_on_a_non_scalar_without_gradient_names_the_shape():
    y = ones(3, 4, requires_grad=True) * 2
    with pytest.raises(GradError, match=r"needs a scalar .*got shape \(3, 4\)"):
        y.backward()


def test_wrong_shape_upstream_gradient():
    y = ones(3, 4, requires_grad=True) * 2
    with pytest.raises(ShapeError, match=r"gradient has shape \(4, 3\) but the tensor has shape "
                                         r"\(3, 4\)"):
        y.backward(np.ones((4, 3)))
    s = ones(1, requires_grad=True).sum()
    with pytest.raises(ShapeError, match=r"gradient has shape \(1,\) .* shape \(\)"):
        s.backward(np.ones(1))


def test_backward_without_any_graph():
    with pytest.raises(GradError, match="does not require grad"):
        (ones(3) * 2).sum().backward()
    x = ones(3, requires_grad=True)
    with dl.no_grad():
        y = (x * 2).sum()
    with pytest.raises(GradError, match="no_grad"):
        y.backward()


def test_in_place_change_before_backward():
    w = ones(2, dtype=np.float64, requires_grad=True)
    loss = (w * w).sum()
    w.data = np.zeros(2)
    with pytest.raises(GradError, match=r"shape \(2,\) used by Mul was modified in place"):
        loss.backward()


def test_retain_grad_on_a_tensor_without_grad():
    with pytest.raises(GradError, match="does not require grad"):
        ones(2).retain_grad()


# ---- dtypes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data, dtype_name", [
    ([1, 2], "int64"), (np.array([1], np.int32), "int32"), ([True], "bool"),
    (np.arange(3, dtype=np.uint8), "uint8"),
])
def test_requires_grad_on_an_integer_tensor_names_the_dtype(data, dtype_name):
    with pytest.raises(DtypeError, match=f"floating-point.*got dtype {dtype_name}"):
        Tensor(data, requires_grad=True)
    with pytest.raises(DtypeError, match=dtype_name):
        dl.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match=dtype_name):  # also a TypeError
        Tensor(data).requires_grad_()
    with pytest.raises(DtypeError, match=dtype_name):
        Tensor(data).requires_grad = True


def test_object_data_is_rejected():
    with pytest.raises(DtypeError, match="cannot make a tensor from dict"):
        Tensor({"a": 1})
    with pytest.raises(DtypeError, match="from list"):
        Tensor([object()])


# ---- anomaly detection -----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("make, op, kind, where", [
    (lambda: Tensor([-1.0]).log(), "Log", "NaN", "output"),
    (lambda: Tensor([0.0]).log(), "Log", "inf", "output"),
    (lambda: Tensor([-4.0]).sqrt(), "Sqrt", "NaN", "output"),
    (lambda: Tensor([1.0]) / Tensor([0.0]), "Div", "inf", "output"),
    (lambda: Tensor(np.array([800.0])).exp(), "Exp", "inf", "output"),
    (lambda: Tensor([0.0], requires_grad=True).sqrt().sum().backward(), "Sqrt", "inf",
     "gradient"),
    (lambda: (Tensor([0.0], requires_grad=True) ** 0.5).sum().backward(), "Pow", "inf",
     "gradient"),
])
def test_anomaly_names_the_op(make, op, kind, where):
    with dl.detect_anomaly(), pytest.raises(AnomalyError) as info:
        make()
    assert info.match(f"{kind} found in the {where} of {op}")
    assert isinstance(info.value, RuntimeError)


# ---- gradcheck's own input errors ------------------------------------------------------------
def test_gradcheck_rejects_float32_and_non_tensors():
    for check in (gradcheck, gradcheck_projection):
        with pytest.raises(TypeError, match="float32.*float64"):
            check(lambda x: x * 2, [ones(3, requires_grad=True)])
        with pytest.raises(TypeError, match="input 0 is a ndarray"):
            check(lambda x: x * 2, [np.ones(3)])
