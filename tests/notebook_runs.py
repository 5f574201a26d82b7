"""Run a folder's notebooks in fresh kernels, two at a time, and read their check verdicts.

A kernel spends most of its few seconds importing, on one core, so two side by side on a
2-core machine halve the wall time of running every exercises/ or solutions/ notebook.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dlbd_lib.grading import RESULT_MIMETYPE


def _execute(path: Path):
    """The notebook run top to bottom in a fresh kernel, or the exception that stopped it."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()  # raises CellExecutionError if any cell raises
    except Exception as err:  # re-raised by the test of this notebook
        return err
    return nb


def execute_all(paths: list[Path]) -> dict:
    """path -> the executed notebook (or the exception that stopped it), two kernels at a time."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with ThreadPoolExecutor(max_workers=max(1, min(2, cores or 1))) as pool:
        return dict(zip(paths, pool.map(_execute, paths)))


def check_verdicts(path: Path, nb) -> list[tuple]:
    """(check cell, its one verdict) for every graded check of an executed notebook.

    Re-raises what stopped the run; asserts 3 or more checks, each showing one verdict.
    """
    if isinstance(nb, Exception):
        raise nb
    checks = check_cells(nb)
    assert len(checks) >= 3, f"{path.name} has {len(checks)} graded exercises, expected 3+"
    found = []
    for cell in checks:
        shown = verdicts(cell)
        assert len(shown) == 1, f"check cell {cell.source.splitlines()[0]!r}: {shown}"
        found.append((cell, shown[0]))
    return found


def check_cells(nb) -> list:
    """The notebook's graded check cells (their source starts with '# CHECK')."""
    return [c for c in nb.cells
            if c.cell_type == "code" and c.source.lstrip().startswith("# CHECK")]


def verdicts(cell) -> list[dict]:
    """The machine-readable verdicts a check cell displayed (one, when it ran properly)."""
    return [o["data"][RESULT_MIMETYPE] for o in cell.outputs
            if o.get("output_type") == "display_data" and RESULT_MIMETYPE in o["data"]]
