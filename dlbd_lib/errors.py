"""The engine's exceptions: each is also the built-in type a numpy or torch user expects.

`ShapeError` is both a `ValueError` (what numpy raises) and a `RuntimeError` (what torch
raises), so `except ValueError` and `except RuntimeError` both catch it. `DimError` (a dim
or an index out of range) is a `ShapeError` and also an `IndexError`, as in torch.
"""

from __future__ import annotations


class ShapeError(ValueError, RuntimeError):
    """Shapes that do not fit together (matmul, broadcasting, a layer's expected input)."""


class DimError(ShapeError, IndexError):
    """A dimension or an index out of range; torch raises IndexError for these."""


class DtypeError(TypeError, RuntimeError):
    """A dtype that the operation cannot take (e.g. a gradient for an integer tensor)."""


class GradError(RuntimeError):
    """Misuse of backward(): non-scalar output without a gradient, a tensor changed in place."""


class AnomalyError(FloatingPointError, RuntimeError):
    """NaN or inf found by anomaly detection, naming the operation that produced it."""


def fmt_shape(shape: tuple) -> str:
    """Format a shape the way the messages print it: (3, 4), (5,), ()."""
    return "(" + ", ".join(str(int(n)) for n in shape) + ("," if len(shape) == 1 else "") + ")"
