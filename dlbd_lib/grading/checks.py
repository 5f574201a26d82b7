"""Check helpers for exercise notebooks: one clear verdict per exercise, readable by the grader.

A check cell is a few short lines::

    # CHECK 1.1 (2 points)
    with Checker("1.1", points=2) as check:
        check.close(affine(X, W, b), X @ W + b, hint="Multiply X by W, then add b.")

The ``with`` block catches whatever the student's code raises: ``NotImplementedError`` (the
released placeholder) and a value left as ``...`` read as "not answered yet"; any other
exception is a failed exercise that names the exception, not a traceback wall. At the end of
the block the checker shows one verdict, for example::

    ✔ Exercise 1.1 passed (2/2 points)
    ✘ Exercise 1.1 failed (0/2 points)
      expected shape (3, 4), got (4, 3) (transposed?)
      Hint: Multiply X by W, then add b.
    … Exercise 1.1: not answered yet (0/2 points)

and, next to the text, a machine-readable copy under the mimetype
``application/vnd.dlbd.result+json`` (for tools; the grader does not read outputs). A check
never raises, so a student's notebook runs top to bottom; under nbgrader
(``NBGRADER_EXECUTION`` set) or with ``DLBD_STRICT_CHECKS=1`` a failed or unanswered
exercise raises ``ExerciseFailed`` after its verdict, so nbgrader's autograder, which scores
a test cell by whether it raises, agrees with ours. A check cell left with no visible checks
(all of them hidden) says so and passes nothing:
``○ Exercise 1.3: checked at grading time (2 points)``.

At grading time the check cells run in the judge (see ``judge``), never in the student's
kernel: there ``RESOLVE`` turns the student's values into plain data before any comparison,
and ``SINK`` collects the verdicts instead of displaying them.
"""

from __future__ import annotations

import html
import os
import re
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from .compare import (
    _compare_close,
    _compare_equal,
    _dtype_of,
    _exception_line,
    _shape_message,
    _shape_of,
    _Wrong,
)
from .markers import RESULT_MIMETYPE, format_points, json_points

__all__ = ["Checker", "CheckResult", "ExerciseFailed", "NotAnswered", "is_unanswered"]

#: Set by the judge (never in a student's kernel): turns the student's values into plain
#: data before any comparison, so no object of the student's ever answers ``==`` itself.
RESOLVE: Any = None
#: Set by the judge: verdicts are collected here instead of being displayed.
SINK: list | None = None


def _plain(value: Any) -> Any:
    return value if RESOLVE is None else RESOLVE(value)


class _NotAnsweredType:
    """The type of the ``NotAnswered`` placeholder."""

    _instance: _NotAnsweredType | None = None

    def __new__(cls) -> _NotAnsweredType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NotAnswered"

    def __bool__(self) -> bool:
        return False


#: A placeholder an exercise can use where ``...`` would be a legal answer.
NotAnswered = _NotAnsweredType()


class ExerciseFailed(AssertionError):
    """Raised by a failed or unanswered exercise, only under nbgrader or DLBD_STRICT_CHECKS=1."""


class _Unanswered(Exception):
    """Internal: a value turned out to be a placeholder."""


def is_unanswered(value: Any, placeholders: tuple[Any, ...] = ()) -> bool:
    """True if ``value`` is a placeholder: ``...``, ``NotAnswered`` or one of ``placeholders``.

    A list, tuple or dict holding ``...`` directly (``[..., ...]``) is unanswered too.
    """
    if value is Ellipsis or value is NotAnswered or any(value is p for p in placeholders):
        return True
    if isinstance(value, (list, tuple)):
        return any(item is Ellipsis or item is NotAnswered for item in value)
    if isinstance(value, dict):
        return any(item is Ellipsis or item is NotAnswered for item in value.values())
    return False


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one exercise: ``passed``, ``failed``, ``unanswered`` or ``unchecked``.

    ``unchecked`` means the cell ran no check: in a student's copy, where the hidden tests
    are removed, an exercise checked only by hidden tests says so instead of "passed".
    """

    exercise: str
    status: str
    points: float
    max_points: float
    message: str = ""
    detail: str = ""
    hint: str = ""

    def text(self) -> str:
        """The verdict as the student reads it."""
        score = f"({format_points(self.points)}/{format_points(self.max_points)} points)"
        if self.status == "passed":
            return f"✔ Exercise {self.exercise} passed {score}"
        if self.status == "unchecked":
            worth = format_points(self.max_points)
            unit = "point" if worth == "1" else "points"
            return f"○ Exercise {self.exercise}: checked at grading time ({worth} {unit})"
        if self.status == "unanswered":
            lines = [f"… Exercise {self.exercise}: not answered yet {score}",
                     "  Replace the placeholder (`...` or `raise NotImplementedError`) "
                     "with your answer, then run this cell again."]
        else:
            lines = [f"✘ Exercise {self.exercise} failed {score}", f"  {self.message}"]
            lines += [f"  {line}" for line in self.detail.splitlines()]
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable verdict the grader reads (one-line message)."""
        return {
            "exercise": self.exercise,
            "status": self.status,
            "points": json_points(self.points),
            "max_points": json_points(self.max_points),
            "message": self.message,
        }


class Checker:
    """Checks one exercise and shows its verdict; use it as a context manager.

    ``exercise`` is the id from the check cell's ``# CHECK`` line and ``points`` its worth.
    ``placeholders`` adds values that mean "not answered" for this exercise, for example
    ``(None,)`` when the exercise text says to leave the answer as None. Every check method
    returns True when it passes; after the first failure later checks are skipped, so the
    verdict names the first thing that is wrong.
    """

    def __init__(
        self, exercise: str, points: float = 1, *, placeholders: tuple[Any, ...] = ()
    ) -> None:
        self.exercise = str(exercise)
        self.points = float(points)
        self.placeholders = tuple(placeholders)
        self._checks = 0
        self._status = "passed"
        self._message = ""
        self._detail = ""
        self._hint = ""
        self._result: CheckResult | None = None

    # -- the checks ------------------------------------------------------------------

    def close(
        self,
        actual: Any,
        expected: Any,
        *,
        rtol: float = 1e-5,
        atol: float = 1e-8,
        name: str | None = None,
        hint: str | None = None,
    ) -> bool:
        """Numbers or arrays equal within ``rtol``/``atol``; shapes are compared first.

        ``actual`` may be a number, a list, a numpy array, or a torch/dlbd tensor.
        """
        return self._run(lambda: _compare_close(_plain(actual), _plain(expected), rtol, atol),
                         actual, name, hint)

    def equal(
        self, actual: Any, expected: Any, *, name: str | None = None, hint: str | None = None
    ) -> bool:
        """Exactly equal: arrays element by element (same shape), other values with ``==``."""
        return self._run(lambda: _compare_equal(_plain(actual), _plain(expected)), actual, name,
                         hint)

    def true(self, condition: Any, message: str, *, hint: str | None = None) -> bool:
        """``condition`` holds (an array must hold everywhere); ``message`` says what failed."""

        def compare() -> tuple[str, str] | None:
            value = _plain(condition)
            value = np.all(value) if isinstance(value, np.ndarray) else value
            return None if bool(value) else (message, "")

        return self._run(compare, condition, None, hint)

    def shape(
        self,
        actual: Any,
        expected_shape: tuple[int | None, ...],
        *,
        name: str | None = None,
        hint: str | None = None,
    ) -> bool:
        """``actual`` has ``expected_shape``; a None entry matches any size."""

        def compare() -> tuple[str, str] | None:
            got = _shape_of(_plain(actual))
            want = tuple(expected_shape)
            same = len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))
            return None if same else (_shape_message(want, got), "")

        return self._run(compare, actual, name, hint)

    def dtype(
        self, actual: Any, expected: Any, *, name: str | None = None, hint: str | None = None
    ) -> bool:
        """``actual`` has dtype ``expected`` (``"float32"``, ``np.int64``, ...)."""

        def compare() -> tuple[str, str] | None:
            got = _dtype_of(_plain(actual))
            want = np.dtype(expected)
            return None if got == want else (f"expected dtype {want}, got {got}", "")

        return self._run(compare, actual, name, hint)

    def raises(
        self,
        exception: type[BaseException],
        func: Any,
        *,
        match: str | None = None,
        hint: str | None = None,
    ) -> bool:
        """Calling ``func()`` raises ``exception`` (whose message matches regex ``match``)."""

        def compare() -> tuple[str, str] | None:
            try:
                func()
            except exception as exc:
                if match is not None and not re.search(match, str(exc)):
                    return (f"{type(exc).__name__} was raised, but its message {str(exc)!r} "
                            f"does not match {match!r}", "")
                return None
            except NotImplementedError:
                raise _Unanswered() from None
            except Exception as exc:
                return (f"expected {exception.__name__}, got {_exception_line(exc)}", "")
            return (f"expected {exception.__name__} to be raised, but nothing was raised", "")

        return self._run(compare, func, None, hint)

    # -- the verdict -----------------------------------------------------------------

    def done(self) -> CheckResult:
        """Show the verdict (once) and return it; the ``with`` block calls this for you."""
        if self._result is None:
            if self._status == "passed" and self._checks == 0:  # only hidden tests
                self._status = "unchecked"
                self._message = "no visible checks: this exercise is checked at grading time"
            points = self.points if self._status == "passed" else 0.0
            self._result = CheckResult(
                self.exercise, self._status, points, self.points,
                self._message, self._detail, self._hint,
            )
            _emit(self._result)
        if self._result.status in ("failed", "unanswered") and _strict():
            raise ExerciseFailed(self._result.text())
        return self._result

    def __enter__(self) -> Checker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is not None and not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, SystemExit: let them through
        if exc is not None and self._status == "passed":
            if _means_unanswered(exc):
                self._unanswered()
            else:
                self._fail(f"your code raised {_exception_line(exc)}{_where(tb, exc)}", "", None)
        self.done()
        return True

    # -- internals -------------------------------------------------------------------

    def _run(self, compare: Any, actual: Any, name: str | None, hint: str | None) -> bool:
        self._checks += 1
        if self._status != "passed":
            return False
        try:
            if is_unanswered(actual, self.placeholders):
                raise _Unanswered()
            outcome = compare()
        except (_Unanswered, NotImplementedError):
            self._unanswered()
            return False
        except _Wrong as exc:
            outcome = (str(exc), "")
        except Exception as exc:
            outcome = (f"could not check the answer: {_exception_line(exc)}", "")
        if outcome is None:
            return True
        message, detail = outcome
        self._fail(f"{name}: {message}" if name else message, detail, hint)
        return False

    def _fail(self, message: str, detail: str, hint: str | None) -> None:
        self._status, self._message, self._detail = "failed", message, detail
        self._hint = hint or ""

    def _unanswered(self) -> None:
        self._status, self._message = "unanswered", "not answered yet"


def _means_unanswered(exc: BaseException) -> bool:
    """A NotImplementedError, or a TypeError about an ``...`` left in place of an answer."""
    if isinstance(exc, NotImplementedError):
        return True
    return isinstance(exc, TypeError) and "'ellipsis'" in str(exc)


def _where(tb: TracebackType | None, exc: BaseException | None = None) -> str:
    """Where in the student's code an exception came from, e.g. `` (in affine, line 3)``."""
    if exc is not None and hasattr(exc, "_dlbd_where"):  # raised in the student's kernel
        return str(exc._dlbd_where)
    frames = [f for f in traceback.extract_tb(tb) if not _is_library_file(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    if frame.name == "<module>":
        return f" (line {frame.lineno})"
    return f" (in {frame.name}, line {frame.lineno})"


def _is_library_file(filename: str) -> bool:
    path = filename.replace("\\", "/")
    return path == __file__.replace("\\", "/") or "/site-packages/" in path or "/lib/python" in path


def _strict() -> bool:
    return bool(os.environ.get("NBGRADER_EXECUTION")) or os.environ.get(
        "DLBD_STRICT_CHECKS", ""
    ) not in ("", "0")


def _emit(result: CheckResult) -> None:
    """Show the verdict: text and HTML for people, JSON under RESULT_MIMETYPE for the grader."""
    if SINK is not None:
        SINK.append(result)
        return
    text = result.text()
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    colour = {"passed": "#2e7d32", "failed": "#c62828"}.get(result.status, "#8d6e00")
    page = (f'<pre style="border-left: 4px solid {colour}; padding: 0.2em 0.6em;">'
            f"{html.escape(text)}</pre>")
    display({"text/plain": text, "text/html": page, RESULT_MIMETYPE: result.to_json()}, raw=True)
