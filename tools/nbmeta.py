"""Give every notebook the metadata JupyterLab writes, so that opening one changes nothing.

    python tools/nbmeta.py               # normalise notebooks/, solutions/, exercises/
    python tools/nbmeta.py --check       # exit 1 (and name them) if any notebook differs
    python tools/nbmeta.py a.ipynb ...   # only these files

When JupyterLab opens a notebook and its kernel starts, it copies the kernel's spec and its
`language_info` (ipykernel's kernel_info reply) into the notebook's metadata; if they differ
from what is stored, the notebook is marked modified and a learner's `git pull` conflicts.
So we store exactly that: the kernelspec of ipykernel's "python3" kernel and ipykernel's
`language_info`, including the Python version (by default the version of the Python that
runs this script, the course's CI Python; `--python-version 3.11.7` to choose). nbstripout
keeps both keys. Cells, outputs and everything else in the file stay as they are; the file
is written the way nbformat (and so JupyterLab and nbstripout) writes it.
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "solutions", "exercises")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def language_info(version: str | None = None) -> dict:
    """ipykernel's language_info (what JupyterLab writes), with the given Python version."""
    from ipykernel.ipkernel import IPythonKernel

    info = copy.deepcopy(IPythonKernel.language_info)
    info["version"] = version or platform.python_version()
    return info


def canonical_metadata(version: str | None = None) -> dict:
    """The whole notebook-level metadata a course notebook is stored with."""
    return {"kernelspec": dict(KERNELSPEC), "language_info": language_info(version)}


def normalise(path: Path, version: str | None = None, check: bool = False) -> bool:
    """Give one notebook the canonical metadata; True if it was (or, with check, is) different."""
    nb = nbformat.read(path, as_version=4)
    wanted = canonical_metadata(version)
    if nb.metadata == wanted:
        return False
    if not check:
        nb.metadata = nbformat.from_dict(wanted)
        nbformat.write(nb, path)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks (default: every one in the three folders)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if any notebook differs")
    parser.add_argument("--python-version", help="the language_info version to store")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(p for f in FOLDERS for p in (ROOT / f).glob("*.ipynb"))
    changed = [p for p in paths if normalise(p, args.python_version, args.check)]
    for p in changed:
        print(("differs: " if args.check else "normalised: ") + str(p))
    if args.check and changed:
        print("run: python tools/nbmeta.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
