"""Grad mode and anomaly mode: the global switches that `no_grad()` and friends flip.

`dlbd_lib.tensor` re-exports everything here (`from dlbd_lib.tensor import no_grad` works).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "detect_anomaly",
           "set_detect_anomaly", "is_anomaly_enabled"]


class _Mode:
    """Global switches: is the graph being recorded, are NaN/inf checks on."""

    grad_enabled = True
    anomaly = False


def is_grad_enabled() -> bool:
    """True when operations record the graph for backward()."""
    return _Mode.grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _Mode.grad_enabled
        _Mode.grad_enabled = self.mode  # like torch, it also acts as a plain function call

    def __call__(self, func: Any) -> Any:
        _Mode.grad_enabled = self.prev  # used as a decorator: switch only while func runs
        return super().__call__(func)

    def _recreate_cm(self) -> set_grad_enabled:
        return set_grad_enabled(self.mode)  # each decorated call restores the mode it found

    def __enter__(self) -> None:
        _Mode.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _Mode.grad_enabled = self.prev


class _GradSwitch(contextlib.ContextDecorator):
    """Sets grad mode to `mode` on entering, restores the previous mode on leaving."""

    mode: bool

    def _recreate_cm(self) -> _GradSwitch:
        return type(self)()  # a fresh one per decorated call, so recursion restores correctly

    def __enter__(self) -> None:
        self.prev = _Mode.grad_enabled
        _Mode.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _Mode.grad_enabled = self.prev


class no_grad(_GradSwitch):
    """Context manager / decorator: inside it no graph is recorded (evaluation, updates)."""

    mode = False


class enable_grad(_GradSwitch):
    """Context manager / decorator: record the graph even inside no_grad()."""

    mode = True


def is_anomaly_enabled() -> bool:
    """True when every forward output and backward gradient is checked for NaN/inf."""
    return _Mode.anomaly


def set_detect_anomaly(mode: bool) -> None:
    """Turn NaN/inf checking on or off globally."""
    _Mode.anomaly = bool(mode)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Context manager: raise AnomalyError naming the op that first produced NaN or inf."""
    prev = _Mode.anomaly
    _Mode.anomaly = True
    try:
        yield
    finally:
        _Mode.anomaly = prev
