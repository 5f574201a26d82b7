"""The grader command: ``python -m dlbd_lib.grading STUDENT.ipynb... [options]``.

Exit status 0 when every notebook was graded completely (wrong answers included), 1 when
any notebook could not be (invalid, no source, timeout, out of memory, crashed), 2 on a
usage error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .grade import DEFAULT_MEMORY_MB, MAX_TIMEOUT, grade_notebooks
from .report import NotebookResult, format_table, write_csv, write_json


def _expand(paths: Sequence[Path]) -> list[Path]:
    """Notebook files as given; a folder stands for every notebook below it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Grade the notebooks named on the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m dlbd_lib.grading",
        description="Grade student notebooks: restore the checks, run each notebook in a "
                    "fresh kernel, score every exercise.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path,
                        help="student notebooks (NN_topic.ipynb), or folders of them")
    parser.add_argument("--source", type=Path, default=Path("solutions"),
                        help="folder of solutions notebooks (default: solutions)")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--csv", type=Path, help="write the results to this CSV file")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds for each whole notebook (default: 3 times the solutions "
                             f"notebook's own time, at most {MAX_TIMEOUT:g})")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="notebooks graded at once (default: 1)")
    parser.add_argument("--state", type=Path,
                        help="folder for each finished result; a rerun resumes from it "
                             "(default: GRADES.parts next to --json or --csv)")
    parser.add_argument("--deadline", type=float,
                        help="seconds for the whole run; notebooks not started by then are "
                             "'not-run' (default: no limit beyond each notebook's)")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"address-space limit of each kernel in MB, 0 for none "
                             f"(default: {DEFAULT_MEMORY_MB})")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    if not args.source.is_dir():
        parser.error(f"there is no source folder {args.source}")
    if args.timeout is not None and args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    state = args.state
    if state is None and (args.json or args.csv):
        first = args.json or args.csv
        state = first.with_name(first.name + ".parts")
    notebooks = _expand(args.notebooks)
    if not notebooks:
        parser.error("no notebooks to grade")

    done: list[NotebookResult] = []

    def progress(result: NotebookResult) -> None:
        done.append(result)
        write(done)  # after every notebook, so a killed run leaves what it finished
        if not args.quiet:
            print(f"  {result.notebook}: {result.status} "
                  f"({result.score:g}/{result.max_score:g}, {result.seconds:.1f} s)",
                  file=sys.stderr, flush=True)

    if not args.quiet:
        print(f"grading {len(notebooks)} notebook(s) against {args.source}/ ...",
              file=sys.stderr, flush=True)
    def write(results: list[NotebookResult]) -> bool:
        try:
            for path, writer in ((args.json, write_json), (args.csv, write_csv)):
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    writer(results, path)
        except OSError as exc:
            print(f"cannot write the results: {exc}", file=sys.stderr)
            return False
        return True

    try:
        results = grade_notebooks(notebooks, args.source, timeout=args.timeout,
                                  memory_mb=args.memory_mb or None, jobs=args.jobs,
                                  state=state, deadline=args.deadline, progress=progress)
    except KeyboardInterrupt:
        print(f"interrupted: {len(done)} result(s) written; run again to resume",
              file=sys.stderr)
        return 130
    print(format_table(results))
    if not write(results):  # the final files keep the order of the command line
        return 1
    return 0 if all(result.status == "graded" for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
