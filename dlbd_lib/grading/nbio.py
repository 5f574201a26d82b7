"""Reading and writing notebooks the same way everywhere: nbformat v4, indent 1, final newline."""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat
from nbformat import NotebookNode

#: Cell metadata keys a generated notebook keeps; the rest (execution times, scroll state,
#: collapsed flags, editor state) is noise in a diff.
CELL_METADATA_KEYS = ("deletable", "editable", "nbgrader", "slideshow", "tags")
#: Notebook metadata keys a generated notebook keeps.
NOTEBOOK_METADATA_KEYS = ("kernelspec", "language_info")


def read_notebook(path: str | Path) -> NotebookNode:
    """Read a notebook file as nbformat v4 (raises on a file that is not a notebook)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(str(path), as_version=4)


def parse_notebook(text: str) -> NotebookNode:
    """Parse notebook JSON text as nbformat v4 (raises on text that is not a notebook)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = nbformat.reads(text, as_version=4)
    if not isinstance(nb.get("cells"), list):
        raise ValueError("the notebook has no list of cells")
    return nb


def notebook_text(nb: NotebookNode) -> str:
    """The notebook as JSON text: sorted keys, indent 1, ending with a newline (as Jupyter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: NotebookNode, path: str | Path) -> bool:
    """Write ``nb`` to ``path`` unless the file already holds exactly that; True if written."""
    path = Path(path)
    text = notebook_text(nb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return True
