"""Comparing an answer with the expected value: the message says what differs, and where."""

from __future__ import annotations

from typing import Any

import numpy as np


class _Wrong(Exception):
    """Internal: a value cannot be compared (the message says why)."""


def _exception_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (a remote error keeps its original type name)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:200] + "…"
    kind = getattr(exc, "_dlbd_type", type(exc).__name__)
    return f"{kind}: {first}" if first else kind




def _to_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a numpy array; torch and dlbd tensors via ``.detach().cpu().numpy()``."""
    if value is None:
        raise _Wrong(f"{what} is None (did you forget to `return` the result?)")
    for method in ("detach", "cpu", "numpy"):
        attribute = getattr(value, method, None)
        if callable(attribute) and not isinstance(value, np.ndarray):
            value = attribute()
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise _Wrong(f"{what} is not an array of numbers: {_exception_line(exc)}") from None
    if array.dtype.kind not in "biufc":
        raise _Wrong(f"expected numbers, got {_describe(value)} (dtype {array.dtype})")
    return array


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:60] + "…"
    return f"a {type(value).__name__} {text}"


def _shape_of(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    if shape is not None and not callable(shape):
        return tuple(int(n) for n in shape)
    return tuple(np.shape(_to_array(value, "your answer")))


def _dtype_of(value: Any) -> np.dtype:
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        try:
            return np.dtype(str(dtype).removeprefix("torch."))
        except TypeError:
            pass
    return _to_array(value, "your answer").dtype


def _shape_message(want: tuple[int | None, ...], got: tuple[int, ...]) -> str:
    shown = "(" + ", ".join("any" if n is None else str(n) for n in want)
    shown += ",)" if len(want) == 1 else ")"
    message = f"expected shape {shown}, got {got}"
    if len(got) == 2 and tuple(want) == got[::-1]:
        message += " (transposed?)"
    return message


def _number(x: Any) -> str:
    if isinstance(x, np.generic):
        x = x.item()
    return f"{x:.6g}" if isinstance(x, float) else repr(x)


def _both(expected: Any, actual: Any) -> str:
    """``expected E, got A`` with as many digits as it takes to tell them apart, and, for
    numbers close to each other, the relative difference."""
    e = expected.item() if isinstance(expected, np.generic) else expected
    a = actual.item() if isinstance(actual, np.generic) else actual
    if not (isinstance(e, float | int) and isinstance(a, float | int)) or isinstance(
            e, bool) or isinstance(a, bool):
        return f"expected {_number(e)}, got {_number(a)}"
    digits = 6
    while digits < 17 and f"{float(e):.{digits}g}" == f"{float(a):.{digits}g}":
        digits += 1
    text = (f"expected {e if isinstance(e, int) else format(e, f'.{digits}g')}, "
            f"got {a if isinstance(a, int) else format(a, f'.{digits}g')}")
    if e != 0 and digits > 6 and np.isfinite(e) and np.isfinite(a):
        text += f" (relative difference {abs(a - e) / abs(e):.1e})"
    return text


def _index(flat: int, shape: tuple[int, ...]) -> str:
    index = tuple(int(i) for i in np.unravel_index(flat, shape))
    return str(index[0]) if len(index) == 1 else str(index)


def _show_both(expected: np.ndarray, actual: np.ndarray) -> str:
    if expected.size > 12 or expected.ndim > 2:
        return ""
    fmt = {"precision": 5, "suppress_small": True}
    return (f"expected: {np.array2string(expected, **fmt)}\n"
            f"got:      {np.array2string(actual, **fmt)}")


def _compare_close(actual: Any, expected: Any, rtol: float, atol: float) -> tuple[str, str] | None:
    a = _to_array(actual, "your answer")
    e = _to_array(expected, "the expected value")
    if a.shape != e.shape:
        return _shape_message(e.shape, a.shape), ""
    if a.dtype.kind == "b":
        a = a.astype(int)
    if e.dtype.kind == "b":
        e = e.astype(int)
    if a.dtype.kind in "fc":
        for bad, label in ((np.isnan, "NaN"), (np.isinf, "inf")):
            wrong = bad(a) & ~(bad(e) if e.dtype.kind in "fc" else np.zeros(e.shape, bool))
            if wrong.any():
                where = "" if a.ndim == 0 else (
                    f" at {int(wrong.sum())} of {a.size} positions"
                    f" (first at index {_index(int(np.argmax(wrong)), a.shape)})")
                return f"your answer contains {label}{where}", ""
    ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if ok.all():
        return None
    if a.ndim == 0:
        return _both(e[()], a[()]), ""
    gap = np.where(ok, 0, np.abs(a.astype(complex) - e.astype(complex)))
    worst = int(np.argmax(gap))
    at = np.unravel_index(worst, a.shape)
    message = (f"{int((~ok).sum())} of {a.size} values differ; the largest difference is at "
               f"index {_index(worst, a.shape)}: {_both(e[at], a[at])}")
    return message, _show_both(e, a)


def _is_arraylike(value: Any) -> bool:
    return isinstance(value, np.ndarray) or callable(getattr(value, "numpy", None))


def _compare_equal(actual: Any, expected: Any) -> tuple[str, str] | None:
    if _is_arraylike(actual) or _is_arraylike(expected):
        a = _to_array(actual, "your answer")
        e = _to_array(expected, "the expected value")
        if a.shape != e.shape:
            return _shape_message(e.shape, a.shape), ""
        same = a == e
        if np.all(same):
            return None
        if a.ndim == 0:
            return _both(e[()], a[()]), ""
        first = int(np.argmax(~same))
        at = np.unravel_index(first, a.shape)
        message = (f"{int((~same).sum())} of {a.size} values differ; the first at index "
                   f"{_index(first, a.shape)}: {_both(e[at], a[at])}")
        return message, _show_both(e, a)
    if actual is None and expected is not None:
        return f"expected {_short(expected)}, got None (did you forget to `return`?)", ""
    try:
        same = bool(actual == expected)
    except Exception as exc:
        return f"could not compare {_describe(actual)} with the expected value: {exc}", ""
    if same:
        return None
    message = f"expected {_short(expected)}, got {_short(actual)}"
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)
           for v in (actual, expected)):
        message = _both(expected, actual)
    numbers = (int, float, complex, np.number)
    if type(actual) is not type(expected) and not (
        isinstance(actual, numbers) and isinstance(expected, numbers)
    ):
        message += f" (a {type(actual).__name__}, not a {type(expected).__name__})"
    return message, ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"
