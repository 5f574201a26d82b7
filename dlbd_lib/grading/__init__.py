"""Exercises, checks and grading for the course notebooks.

## Exercises and grading

`solutions/NN_topic.ipynb` are the one source of truth: complete notebooks with the
answers in them. `exercises/NN_topic.ipynb`, what students get, are generated from them.

### Writing an exercise (instructor)

Put the answer between nbgrader's markers, and follow it with a *check cell*, a code
cell whose first line is `# CHECK <exercise> (<points> points)`:

```python
def affine(X, W, b):
    # X: (N, D), W: (D, M), b: (M,) -> (N, M)
    ### BEGIN SOLUTION
    return X @ W + b
    ### END SOLUTION
```

```python
# CHECK 1.1 (2 points)
with Checker("1.1", points=2) as check:
    check.close(affine(X, W, b), X @ W + b, hint="Multiply X by W, then add b.")
    ### BEGIN HIDDEN TESTS
    check.close(affine(2 * X, W, b), 2 * X @ W + b)
    ### END HIDDEN TESTS
```

(`from dlbd_lib.grading import Checker` once, at the top of the notebook.) The checks are
`check.close` (numbers and arrays within a tolerance, shapes first), `check.equal`,
`check.shape`, `check.dtype`, `check.true` and `check.raises`; they accept numbers, lists,
numpy arrays and torch or dlbd tensors. The cell prints one verdict, what was expected,
what came back and the hint, and never raises, so a student's notebook runs top to bottom.
An answer left as `...` (or as a function that raises NotImplementedError) reads
"not answered yet". A written answer goes in a markdown cell between
`<!-- BEGIN SOLUTION -->` and `<!-- END SOLUTION -->`. Call an exercise's function only in
its check cell, and put nothing after a module-level solution region that uses its names.

### Releasing (instructor)

```bash
python -m dlbd_lib.grading.release            # solutions/ -> exercises/
python -m dlbd_lib.grading.release --check    # exit 1 if exercises/ is stale (CI runs it)
```

Solution code becomes `# YOUR CODE HERE` plus `raise NotImplementedError("Exercise 1.1:
your code here")` inside a function, or `name = ...` for each name a module-level answer
assigns; hidden tests become `# (hidden tests run at grading time)`; outputs are stripped.
The output is byte-identical from run to run. Hand `exercises/` out.

### Grading (instructor)

```bash
python -m dlbd_lib.grading submitted/ -j 4 --json grades.json --csv grades.csv
```

Each student's notebook runs in a fresh kernel, check cells left out (``runner``); a
separate judge process (``judge``) runs the solutions notebook's setup and check cells,
hidden tests included, and takes each answer's names from the kernel: plain data by value,
everything else as handles whose calls run in the kernel (``rpc``, ``wire``, ``agent``).
Comparisons happen only in the judge. As root each kernel is also isolated (``sandbox``).
Results are stored per notebook and a rerun resumes (``grade``); statuses are in ``score``.
The whole story, with the options: docs/instructors.md.

### With nbgrader

`python -m dlbd_lib.grading.tag solutions/NN_topic.ipynb` sets nbgrader metadata (schema 3)
from the markers: answer cells become "autograded answer" (`solution: true`), check cells
"autograder tests" (`grade: true, locked: true, points`), written answers "manually graded
answer" (0 points), with `grade_id`s `answer-1-1`, `check-1-1`. The released notebooks carry
the same metadata. nbgrader users can use `solutions/` as nbgrader's `source/` directly:
its markers are nbgrader's, and under nbgrader (`NBGRADER_EXECUTION` set) a check that does
not pass raises `ExerciseFailed`, so nbgrader scores the test cell as failed.
"""

from __future__ import annotations

from typing import Any

from .checks import Checker, CheckResult, ExerciseFailed, NotAnswered, is_unanswered
from .markers import RESULT_MIMETYPE

__all__ = [
    "RESULT_MIMETYPE",
    "CheckResult",
    "Checker",
    "ExerciseFailed",
    "NotAnswered",
    "check_release",
    "grade_notebooks",
    "is_unanswered",
    "release_all",
    "release_notebook",
    "tag_notebook",
]

# The rest needs nbformat and nbclient; load it on first use so that a check cell, which
# only needs Checker, stays quick to import in the student's kernel.
_LAZY = {
    "release_notebook": "release",
    "release_all": "release",
    "check_release": "release",
    "tag_notebook": "tag",
    "grade_notebooks": "grade",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
