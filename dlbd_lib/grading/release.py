"""Generate the students' ``exercises/`` notebooks from ``solutions/``.

Usage::

    python -m dlbd_lib.grading.release [--source solutions] [--dest exercises] [--check]

For each ``solutions/NN_topic.ipynb`` this writes ``exercises/NN_topic.ipynb`` where

- a solution region inside a function body becomes ``# YOUR CODE HERE`` and
  ``raise NotImplementedError("Exercise 1.2: your code here")``, indented like the code;
- a solution region at module level becomes ``# YOUR CODE HERE`` and ``name = ...`` for
  every name it assigns (a function it defines keeps its signature and docstring and raises
  NotImplementedError), so the notebook still runs top to bottom and the check cell below
  says "not answered yet";
- a written answer between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``
  becomes ``YOUR ANSWER HERE``;
- hidden tests become one comment line, ``# (hidden tests run at grading time)``.

Outputs are stripped, metadata cleaned, nbgrader metadata set, check cells made read-only,
and the same solutions always give byte-identical files. Notebooks in ``exercises/`` with no
source are removed. ``--check`` writes nothing and exits 1, naming each stale, missing or
extra file, when ``exercises/`` is out of date.
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from .markers import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    MD_SOLUTION_BEGIN,
    MD_SOLUTION_END,
    SOLUTION_BEGIN,
    SOLUTION_END,
    CellRole,
    MarkerError,
    Region,
    analyse,
    cell_source,
    ensure_cell_ids,
    find_regions,
    nbgrader_metadata,
    parse_python,
    python_source,
)
from .nbio import CELL_METADATA_KEYS, NOTEBOOK_METADATA_KEYS, notebook_text, read_notebook

HIDDEN_PLACEHOLDER = "# (hidden tests run at grading time)"
CODE_PLACEHOLDER = "# YOUR CODE HERE"
TEXT_PLACEHOLDER = "YOUR ANSWER HERE"


class ReleaseError(ValueError):
    """A solutions notebook cannot be released (the message names the cell)."""


def release_notebook(nb: NotebookNode) -> NotebookNode:
    """The students' version of a solutions notebook (a new notebook; ``nb`` is unchanged)."""
    cells = copy.deepcopy(nb.cells)
    ensure_cell_ids(cells)
    try:
        layout = analyse(cells)
    except MarkerError as exc:
        raise ReleaseError(str(exc)) from None
    points = {ex.check_index: ex.points for ex in layout.exercises}

    out = nbformat.v4.new_notebook()
    out.nbformat_minor = max(int(nb.get("nbformat_minor", 5)), 5)
    out.metadata = {k: copy.deepcopy(nb.metadata[k]) for k in NOTEBOOK_METADATA_KEYS
                    if k in nb.get("metadata", {})}
    for index, (cell, role) in enumerate(zip(cells, layout.roles)):
        try:
            out.cells.append(_release_cell(cell, role, points.get(index)))
        except (MarkerError, ReleaseError) as exc:
            raise ReleaseError(f"cell {index}: {exc}") from None
    return out


def _release_cell(cell: dict[str, Any], role: CellRole, points: float | None) -> NotebookNode:
    source = cell_source(cell)
    metadata = {k: copy.deepcopy(v) for k, v in cell.get("metadata", {}).items()
                if k in CELL_METADATA_KEYS}
    if role.kind == "check":
        source = _clear_hidden(source)
        metadata.update(editable=False, deletable=False)
    elif role.kind == "answer":
        source = _clear_code(source, role.exercise)
        metadata.pop("editable", None)
        metadata["deletable"] = False
    elif role.kind == "written":
        source = _clear_text(source)
        metadata.pop("editable", None)
        metadata["deletable"] = False
    if role.kind != "other" and role.grade_id is not None:
        metadata["nbgrader"] = nbgrader_metadata(role.kind, role.grade_id, points)

    if cell["cell_type"] == "code":
        new = nbformat.v4.new_code_cell(source=source, metadata=metadata)
    elif cell["cell_type"] == "markdown":
        new = nbformat.v4.new_markdown_cell(source=source, metadata=metadata)
    else:
        new = nbformat.v4.new_raw_cell(source=source, metadata=metadata)
    if cell.get("attachments") and cell["cell_type"] != "code":
        new["attachments"] = copy.deepcopy(cell["attachments"])
    new["id"] = cell["id"]
    return new


# -- hidden tests and written answers --------------------------------------------------------


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _replace(lines: list[str], regions: list[Region], stubs: list[list[str]]) -> list[str]:
    out: list[str] = []
    position = 0
    for region, stub in zip(regions, stubs):
        out += lines[position : max(region.begin, 0)]
        out += stub
        position = region.end + 1
    return out + lines[position:]


def _parses(source: str) -> bool:
    code = python_source(source)
    if code is None:
        return True
    try:
        parse_python(code)
    except SyntaxError:
        return False
    return True


def _clear_hidden(source: str) -> str:
    lines = source.splitlines()
    regions = find_regions(lines, HIDDEN_BEGIN, HIDDEN_END)
    if not regions:
        return source
    stubs = [[_indent(lines[r.begin]) + HIDDEN_PLACEHOLDER] for r in regions]
    released = "\n".join(_replace(lines, regions, stubs))
    if not _parses(released):  # the hidden tests were a whole block: keep it a block
        stubs = [stub + [_indent(lines[r.begin]) + "pass"] for stub, r in zip(stubs, regions)]
        released = "\n".join(_replace(lines, regions, stubs))
    return released


def _clear_text(source: str) -> str:
    lines = source.splitlines()
    regions = find_regions(lines, MD_SOLUTION_BEGIN, MD_SOLUTION_END)
    regions += find_regions(lines, SOLUTION_BEGIN, SOLUTION_END)
    if not regions:  # nbgrader metadata marks the whole cell as the answer
        return TEXT_PLACEHOLDER
    regions.sort(key=lambda region: region.begin)
    return "\n".join(_replace(lines, regions, [[TEXT_PLACEHOLDER]] * len(regions)))


# -- code answers ----------------------------------------------------------------------------


def _clear_code(source: str, exercise: str | None) -> str:
    lines = source.splitlines()
    regions = find_regions(lines, SOLUTION_BEGIN, SOLUTION_END)
    if not regions:  # nbgrader metadata marks the whole cell as the answer
        regions = [Region(-1, len(lines))]
    code = python_source(source)
    tree = None
    if code is not None:
        try:
            tree = parse_python(code)
        except SyntaxError as exc:
            raise ReleaseError(
                f"the solution is not valid Python: {exc.msg} (line {exc.lineno})"
            ) from None
    message = f"Exercise {exercise}: your code here" if exercise else "Your code here"
    stubs = [_code_stub(lines, region, tree, message) for region in regions]
    released = "\n".join(_replace(lines, regions, stubs))
    if not _parses(released):
        raise ReleaseError("the released code would not be valid Python; "
                           "keep each solution region to whole statements")
    return released


def _code_stub(
    lines: list[str], region: Region, tree: ast.Module | None, message: str
) -> list[str]:
    """The placeholder lines for one solution region."""
    body = [line for line in lines[region.begin + 1 : region.end] if line.strip()]
    if body:
        indent = _indent(body[0])
    else:
        indent = _indent(lines[region.begin]) if region.begin >= 0 else ""
    raise_line = f'raise NotImplementedError("{message}")'
    if tree is None:  # a cell magic: nothing to analyse
        return [indent + CODE_PLACEHOLDER]

    first, last = region.begin + 2, region.end  # 1-based lines inside the region
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    inside = [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and first <= n.lineno <= last]
    inside_ids = {id(n) for n in inside}
    top = sorted((n for n in inside if id(parents.get(n)) not in inside_ids),
                 key=lambda n: n.lineno)

    if top and _in_function(top[0], parents):
        return [indent + CODE_PLACEHOLDER, indent + raise_line]

    stub = [indent + CODE_PLACEHOLDER]
    names: list[str] = []
    for node in top:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stub += _function_stub(node, lines, indent, raise_line)
        else:
            names += [name for name in _assigned_names(node) if name not in names]
    stub += [f"{indent}{name} = ..." for name in names]
    if len(stub) == 1 and indent:
        stub.append(indent + "pass")
    return stub


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _function_stub(
    node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], indent: str, raise_line: str
) -> list[str]:
    """The function's signature and docstring, and a body that raises NotImplementedError."""
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    first = node.body[0]
    if first.lineno > node.lineno:
        header = lines[start : first.lineno - 1]
        body_indent = _indent(lines[first.lineno - 1])
    else:  # def f(x): return x  -- all on one line
        keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        header = [f"{indent}{keyword} {node.name}({ast.unparse(node.args)}){returns}:"]
        body_indent = indent + "    "
    docstring: list[str] = []
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str) and first.lineno > node.lineno):
        docstring = lines[first.lineno - 1 : first.end_lineno]
    return header + docstring + [body_indent + CODE_PLACEHOLDER, body_indent + raise_line]


def _target_names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _assigned_names(node: ast.AST) -> list[str]:
    """Names a module-level statement binds by assignment (not loop variables, not imports)."""
    names: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Assign):
            for target in current.targets:
                names += _target_names(target)
        elif isinstance(current, (ast.AnnAssign, ast.AugAssign)):
            names += _target_names(current.target)
        elif isinstance(current, ast.ClassDef):
            names.append(current.name)
        if isinstance(current, _SCOPES):
            continue
        stack += reversed(list(ast.iter_child_nodes(current)))
    return list(dict.fromkeys(names))


# -- whole folders ---------------------------------------------------------------------------


def _released_texts(source: Path) -> dict[str, str | ReleaseError]:
    if not source.is_dir():
        raise ReleaseError(f"there is no folder {source}")
    texts: dict[str, str | ReleaseError] = {}
    for path in sorted(source.glob("*.ipynb")):
        try:
            texts[path.name] = notebook_text(release_notebook(read_notebook(path)))
        except ReleaseError as exc:
            texts[path.name] = ReleaseError(f"{path}: {exc}")
        except Exception as exc:  # not a notebook at all
            texts[path.name] = ReleaseError(f"{path}: cannot read it: {exc}")
    return texts


def release_all(source: str | Path = "solutions", dest: str | Path = "exercises") -> list[Path]:
    """Write ``dest/NAME.ipynb`` for every ``source/NAME.ipynb``; return the files changed.

    Nothing is written unless every notebook can be released (else ReleaseError).
    Notebooks in ``dest`` without a source are removed, and listed among the changes.
    """
    source, dest = Path(source), Path(dest)
    texts = _released_texts(source)
    errors = [text for text in texts.values() if isinstance(text, ReleaseError)]
    if errors:
        raise ReleaseError("\n".join(str(error) for error in errors))
    dest.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in texts.items():
        target = dest / name
        assert isinstance(text, str)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            changed.append(target)
    for extra in sorted(dest.glob("*.ipynb")):
        if extra.name not in texts:
            extra.unlink()
            changed.append(extra)
    return changed


def check_release(source: str | Path = "solutions", dest: str | Path = "exercises") -> list[str]:
    """Problems that make ``dest`` differ from a fresh release of ``source``; [] if in sync."""
    source, dest = Path(source), Path(dest)
    try:
        texts = _released_texts(source)
    except ReleaseError as exc:
        return [str(exc)]
    problems = []
    for name, text in texts.items():
        target = dest / name
        if isinstance(text, ReleaseError):
            problems.append(str(text))
        elif not target.exists():
            problems.append(f"{target} is missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{target} is out of date")
    for extra in sorted(dest.glob("*.ipynb")) if dest.is_dir() else []:
        if extra.name not in texts:
            problems.append(f"{extra} has no source {source / extra.name}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: release (or, with ``--check``, verify) the exercise notebooks."""
    parser = argparse.ArgumentParser(
        prog="python -m dlbd_lib.grading.release",
        description="Generate exercises/ (students' notebooks) from solutions/.",
    )
    parser.add_argument("--source", type=Path, default=Path("solutions"),
                        help="folder of solutions notebooks (default: solutions)")
    parser.add_argument("--dest", type=Path, default=Path("exercises"),
                        help="folder of the generated notebooks (default: exercises)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the generated notebooks are out of date")
    args = parser.parse_args(argv)

    if args.check:
        problems = check_release(args.source, args.dest)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{args.dest} is out of sync with {args.source}: "
                  "run `python -m dlbd_lib.grading.release`", file=sys.stderr)
            return 1
        print(f"{args.dest} is up to date with {args.source}")
        return 0
    try:
        changed = release_all(args.source, args.dest)
    except ReleaseError as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in changed:
        print(f"{'wrote' if path.exists() else 'removed'} {path}")
    print(f"{args.dest}: {len(changed)} notebook(s) changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
