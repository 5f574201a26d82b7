"""Arrays as plain data, fingerprints, and class names: what both ends of the wire share."""

from __future__ import annotations

import base64
import hashlib
import io
import sys
from typing import Any

import numpy as np

_SMALL = 64  # arrays up to this size travel as a list, larger ones as .npy bytes


def _npy(array: np.ndarray) -> dict[str, Any]:
    array = np.asarray(array)
    if array.size <= _SMALL and array.dtype.kind in "biuf":
        return {"dt": array.dtype.str, "sh": list(array.shape), "v": array.ravel().tolist()}
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return {"npy": base64.b64encode(buffer.getvalue()).decode("ascii")}


def _from_npy(data: dict[str, Any]) -> np.ndarray:
    if "npy" in data:
        raw = base64.b64decode(data["npy"])
        return np.load(io.BytesIO(raw), allow_pickle=False)
    dtype = np.dtype(data["dt"])
    if dtype.kind not in "biuf":
        raise ValueError(f"unexpected dtype {dtype}")
    return np.array(data["v"], dtype=dtype).reshape(data["sh"])


def digest(array: Any) -> str | None:
    """A short fingerprint of an array's bytes (None for None)."""
    if array is None:
        return None
    array = np.asarray(array)
    return hashlib.blake2b(array.tobytes() + array.dtype.str.encode(), digest_size=12).hexdigest()


def type_name(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def trusted_class(names: list[str], roots: tuple[str, ...]) -> type | None:
    """The first class named ``module:qualname`` whose module is loaded and under ``roots``."""
    for name in names:
        module_name, _, qualname = name.partition(":")
        if module_name.split(".")[0] not in roots or module_name not in sys.modules:
            continue
        obj: Any = sys.modules[module_name]
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type):
            return obj
    return None


def mro_names(cls: type) -> list[str]:
    return [f"{c.__module__}:{c.__qualname__}" for c in cls.__mro__]


def fingerprint(value: Any) -> Any:
    """What the kernel watches for in-place changes of a copy: data, grad, generator state."""
    if isinstance(value, np.ndarray):
        return digest(value)
    if isinstance(value, np.random.Generator):
        return repr(value.bit_generator.state)
    return (digest(value.data), digest(value.grad))
