"""KernelRun's start: a kernel that dies before its first reply is retried once."""

from __future__ import annotations

import pytest

from dlbd_lib.grading import runner


class FakeClient:
    """Stands in for a started kernel's client: execute gives message ids."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def execute(self, source: str, **kwargs: object) -> str:
        self.sources.append(source)
        return f"msg-{len(self.sources)}"

    def stop_channels(self) -> None:
        pass


def _run(monkeypatch: pytest.MonkeyPatch, failures: int, memory_mb: int | None = None):
    """A KernelRun whose first `failures` kernel starts fail; returns it and the attempts."""
    attempts: list[int] = []

    def start_kernel(self: runner.KernelRun) -> str | None:
        attempts.append(1)
        if len(attempts) <= failures:
            return "Kernel died before replying to kernel_info"
        self.kc = FakeClient()
        return None

    monkeypatch.setattr(runner.KernelRun, "_start_kernel", start_kernel)
    plan = {"timeout": 60, "memory_mb": memory_mb, "hide": [],
            "student_cells": [(0, "a = 1"), (2, "b = a + 1")]}
    run = runner.KernelRun(plan)
    return run, len(attempts)


def test_a_kernel_that_dies_at_start_is_retried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    run, attempts = _run(monkeypatch, failures=1)
    try:
        assert attempts == 2
        assert run.status == "ok"
        assert run.kc.sources == ["a = 1", "b = a + 1"]
        assert run.order == [("msg-1", 0), ("msg-2", 2)]
    finally:
        run.kill()


@pytest.mark.parametrize(("memory_mb", "hint"), [(None, ""),
                                                 (512, " (is the memory limit too low?)")])
def test_a_second_failed_start_is_reported(monkeypatch: pytest.MonkeyPatch,
                                           memory_mb: int | None, hint: str) -> None:
    run, attempts = _run(monkeypatch, failures=2, memory_mb=memory_mb)
    assert attempts == 2
    assert run.status == "error"
    assert run.message == ("the kernel did not start: Kernel died before replying to "
                           f"kernel_info{hint}")
    assert run.order == [] and run.kc is None
