"""Set nbgrader metadata on the cells of solutions notebooks, from the text markers.

Usage::

    python -m dlbd_lib.grading.tag solutions/01_tensors.ipynb [...] [--check]

A code cell with a ``### BEGIN SOLUTION`` region becomes an nbgrader *autograded answer*
(``solution: true, grade: false``), a code cell whose first line is ``# CHECK <id> (<n>
points)`` an *autograder tests* cell (``grade: true, locked: true, points: n``), a markdown
cell with a solution region a *manually graded answer* worth 0 points. ``grade_id``\\ s come
from the exercise id (``answer-1-2``, ``check-1-2``), so tagging twice gives the same file.
Every other cell is left as it is. ``--check`` writes nothing and exits 1 if a file would
change.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

from nbformat import NotebookNode

from .markers import MarkerError, analyse, nbgrader_metadata
from .nbio import notebook_text, read_notebook, write_notebook


def tag_notebook(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` whose answer and check cells carry nbgrader metadata.

    Raises MarkerError (naming the cell) when the markers are inconsistent.
    """
    nb = copy.deepcopy(nb)
    layout = analyse(nb.cells)
    points = {ex.check_index: ex.points for ex in layout.exercises}
    for index, (cell, role) in enumerate(zip(nb.cells, layout.roles)):
        if role.kind == "other" or role.grade_id is None:
            continue
        cell.metadata["nbgrader"] = nbgrader_metadata(role.kind, role.grade_id, points.get(index))
    return nb


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: tag the given notebooks in place (or only check them)."""
    parser = argparse.ArgumentParser(
        prog="python -m dlbd_lib.grading.tag",
        description="Set nbgrader metadata on answer and check cells from their markers.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="solutions notebooks")
    parser.add_argument("--check", action="store_true", help="only report files that would change")
    args = parser.parse_args(argv)

    status = 0
    for path in args.notebooks:
        try:
            nb = read_notebook(path)
            tagged = tag_notebook(nb)
        except MarkerError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        except Exception as exc:  # not a notebook, unreadable file
            print(f"{path}: cannot read it: {exc}", file=sys.stderr)
            status = 1
            continue
        layout = analyse(tagged.cells)
        counts = (f"{len(layout.exercises)} exercises, "
                  f"{sum(r.kind == 'answer' for r in layout.roles)} answer cells")
        changed = notebook_text(nb) != notebook_text(tagged)
        if args.check:
            print(f"{path}: {'needs tagging' if changed else 'up to date'} ({counts})")
            status = status or int(changed)
        else:
            if changed:
                write_notebook(tagged, path)
            print(f"{path}: {'tagged' if changed else 'unchanged'} ({counts})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
