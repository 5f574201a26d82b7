"""The check helpers: one verdict per exercise, with a message that names what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from dlbd_lib.grading import Checker, ExerciseFailed, NotAnswered, is_unanswered


@pytest.fixture(autouse=True)
def _not_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("DLBD_STRICT_CHECKS", raising=False)


def run(check_body, points: float = 2, **kwargs):
    """Run ``check_body(check)`` inside a ``with Checker(...)`` block; return the verdict."""
    with Checker("1.1", points=points, **kwargs) as check:
        check_body(check)
    return check.done()


class FakeTensor:
    """Duck-typed like a torch tensor: detach().cpu().numpy()."""

    def __init__(self, data):
        self.data = np.asarray(data)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.data


def test_passed_verdict_text_and_marker(capsys):
    result = run(lambda c: c.close(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-9]))
    assert result.status == "passed" and result.points == 2
    assert capsys.readouterr().out.strip() == "✔ Exercise 1.1 passed (2/2 points)"
    assert result.to_json() == {"exercise": "1.1", "status": "passed", "points": 2,
                                "max_points": 2, "message": ""}


def test_wrong_scalar_names_expected_and_got(capsys):
    result = run(lambda c: c.close(2.0, 3.0, hint="Add one more."))
    assert result.status == "failed" and result.points == 0
    assert result.message == "expected 3, got 2"
    out = capsys.readouterr().out
    assert out.startswith("✘ Exercise 1.1 failed (0/2 points)")
    assert "Hint: Add one more." in out


def test_wrong_array_value_names_index_and_shows_both():
    result = run(lambda c: c.close(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0])))
    assert result.message == (
        "1 of 3 values differ; the largest difference is at index 2: expected 3, got 4"
    )
    assert "expected: [1. 2. 3.]" in result.detail and "got:      [1. 2. 4.]" in result.detail


def test_wrong_shape_is_reported_before_values():
    result = run(lambda c: c.close(np.zeros((4, 3)), np.zeros((3, 4))))
    assert result.message == "expected shape (3, 4), got (4, 3) (transposed?)"


def test_nan_is_named():
    result = run(lambda c: c.close(np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0])))
    assert result.message == "your answer contains NaN at 1 of 3 positions (first at index 1)"


def test_non_numeric_answer_names_its_type():
    result = run(lambda c: c.close("abc", 1.0))
    assert result.message.startswith("expected numbers, got a str 'abc'")


def test_none_suggests_a_missing_return():
    result = run(lambda c: c.close(None, 1.0))
    assert "None (did you forget to `return` the result?)" in result.message


def test_dtype_check():
    assert run(lambda c: c.dtype(np.zeros(3, np.float32), "float32")).status == "passed"
    result = run(lambda c: c.dtype(np.zeros(3), np.float32))
    assert result.message == "expected dtype float32, got float64"


def test_shape_check_with_wildcard_and_name():
    assert run(lambda c: c.shape(np.zeros((5, 10)), (None, 10))).status == "passed"
    result = run(lambda c: c.shape(np.zeros((5, 9)), (None, 10), name="logits"))
    assert result.message == "logits: expected shape (any, 10), got (5, 9)"


def test_tensors_lists_and_bools_are_converted():
    assert run(lambda c: c.close(FakeTensor([[1.0, 2.0]]), [[1.0, 2.0]])).status == "passed"
    assert run(lambda c: c.equal(FakeTensor([1, 2]), np.array([1, 2]))).status == "passed"
    assert run(lambda c: c.close(np.array([True, False]), [1, 0])).status == "passed"


def test_equal_on_plain_values_names_the_type():
    result = run(lambda c: c.equal((1, 2), [1, 2]))
    assert result.message == "expected [1, 2], got (1, 2) (a tuple, not a list)"
    assert run(lambda c: c.equal(45, 45.0)).status == "passed"


def test_equal_on_arrays_names_first_difference():
    result = run(lambda c: c.equal(np.array([1, 5, 7]), np.array([1, 2, 3])))
    assert result.message == "2 of 3 values differ; the first at index 1: expected 2, got 5"


def test_true_and_raises():
    assert run(lambda c: c.true(np.array([True, True]), "all positive")).status == "passed"
    assert run(lambda c: c.true(False, "the loss must go down")).message == "the loss must go down"
    assert run(lambda c: c.raises(ValueError, lambda: int("x"), match="invalid")).status == "passed"
    result = run(lambda c: c.raises(ValueError, lambda: 1))
    assert result.message == "expected ValueError to be raised, but nothing was raised"
    result = run(lambda c: c.raises(ValueError, lambda: [][1]))
    assert result.message == "expected ValueError, got IndexError: list index out of range"


def test_exception_in_student_code_is_a_failure_not_a_traceback(capsys):
    def affine(X):
        raise ValueError("shapes (3,4) and (3,4) not aligned")

    result = run(lambda c: c.close(affine(1), 1.0))
    assert result.status == "failed"
    assert result.message.startswith(
        "your code raised ValueError: shapes (3,4) and (3,4) not aligned (in affine, line ")
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("placeholder", [..., NotAnswered, [..., ...]])
def test_placeholder_value_is_not_answered(placeholder, capsys):
    result = run(lambda c: c.close(placeholder, 1.0))
    assert result.status == "unanswered" and result.points == 0
    assert capsys.readouterr().out.startswith("… Exercise 1.1: not answered yet (0/2 points)")


def test_unanswered_function_and_ellipsis_arithmetic():
    def double(x):
        raise NotImplementedError("Exercise 1.1: your code here")

    assert run(lambda c: c.close(double(2), 4)).status == "unanswered"
    total = ...
    assert run(lambda c: c.close(total + 1, 4)).status == "unanswered"


def test_documented_none_placeholder():
    assert run(lambda c: c.equal(None, 3), placeholders=(None,)).status == "unanswered"
    assert is_unanswered(None, (None,)) and not is_unanswered(None)


def test_first_failure_wins_and_later_checks_are_skipped():
    calls = []

    def body(check):
        check.close(1.0, 2.0)
        calls.append(check.close(np.zeros(2), np.zeros(3)))

    result = run(body)
    assert result.message == "expected 2, got 1" and calls == [False]


def test_a_check_cell_with_only_hidden_checks_says_so(capsys):
    result = run(lambda c: None)
    assert result.status == "unchecked" and result.points == 0
    assert capsys.readouterr().out == "○ Exercise 1.1: checked at grading time (2 points)\n"


def test_keyboard_interrupt_is_not_swallowed():
    with pytest.raises(KeyboardInterrupt):
        with Checker("1.1"):
            raise KeyboardInterrupt


def test_strict_mode_raises_for_nbgrader(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(ExerciseFailed, match="expected 2, got 1"):
        run(lambda c: c.close(1.0, 2.0))
    assert run(lambda c: c.close(2.0, 2.0)).status == "passed"
    assert run(lambda c: None).status == "unchecked"  # nbgrader's validate: hidden tests out


def test_done_shows_the_verdict_once(capsys):
    check = Checker("2.3", points=0.5)
    check.equal("a", "a")
    first, second = check.done(), check.done()
    assert first is second
    assert capsys.readouterr().out == "✔ Exercise 2.3 passed (0.5/0.5 points)\n"
