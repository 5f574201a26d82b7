"""Build a clean .ipynb from a percent-format script (`# %%` code, `# %% [markdown]` text).

    python tools/nbbuild.py script.py notebooks/NN_topic.ipynb

Authoring aid for course writers: the notebook, not the script, is what the repo keeps.
Cells come out without outputs, with the metadata JupyterLab writes (tools/nbmeta.py).
Markdown cells are written as `# ` comment lines after `# %% [markdown]`.
Extra cell metadata can be given on the marker line as JSON: `# %% {"tags": ["x"]}`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbmeta import canonical_metadata  # noqa: E402

MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<meta> \{.*\})?\s*$")


def build(source: str) -> nbformat.NotebookNode:
    """Parse a percent-format script into a notebook node."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = canonical_metadata()  # what JupyterLab writes, so opening changes nothing
    cells: list[tuple[bool, dict, list[str]]] = []
    for line in source.splitlines():
        m = MARKER.match(line)
        if m:
            meta = json.loads(m.group("meta")) if m.group("meta") else {}
            cells.append((bool(m.group("md")), meta, []))
        elif cells:
            cells[-1][2].append(line)
    for is_md, meta, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if is_md:
            text = "\n".join(re.sub(r"^# ?", "", ln) for ln in lines)
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        cell.metadata = meta
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    nb = build(Path(argv[0]).read_text(encoding="utf-8"))
    nbformat.write(nb, argv[1])
    print(f"wrote {argv[1]} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
