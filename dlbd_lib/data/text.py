"""Real text for NLP and character-level language models, all shipped offline.

English comes from Python itself (the Zen of Python, the interactive help texts, the
docstrings of standard-library modules), so it is there wherever Python is; classical
Chinese (public domain: a few KB of classics and 4,000 Tang poems) ships with dlbd_lib in
`dlbd_lib/data/files/`, with its provenance and licence in LICENSE.txt there.
"""

from __future__ import annotations

import ast
import codecs
import importlib
import importlib.resources
import importlib.util
import inspect
import warnings
from typing import NamedTuple

__all__ = ["TEXT_CORPORA", "STDLIB_DOC_MODULES", "load_text_corpus", "load_chinese_text",
           "TangPoem", "load_tang_poems"]

TEXT_CORPORA = ("zen", "python-help", "stdlib-docs")

# Modules whose docstrings make the "stdlib-docs" corpus: prose-heavy, pure-Python,
# none of them touches the network when imported.
STDLIB_DOC_MODULES = (
    "argparse", "bisect", "calendar", "collections", "configparser", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "doctest", "enum", "fractions",
    "functools", "heapq", "inspect", "itertools", "json", "logging", "os", "pathlib",
    "pickle", "pprint", "random", "re", "shutil", "statistics", "string", "tempfile",
    "textwrap", "threading", "typing", "unittest", "warnings", "zipfile",
)


def _zen() -> str:
    """The Zen of Python, decoded from `this.py` without importing it (import prints)."""
    spec = importlib.util.find_spec("this")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the standard-library module 'this' is not available")
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "s"):
            return codecs.decode(ast.literal_eval(node.value), "rot13")
    raise ValueError(f"could not find the Zen's text in {spec.origin}")


def _python_help() -> str:
    """The help texts of `help('topics')`: pydoc_data.topics, sorted by topic name."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some Linux distributions split it off; fall back
        return _stdlib_docs()
    return "\n\n".join(topics[key].strip() for key in sorted(topics))


def _stdlib_docs() -> str:
    """Docstrings of STDLIB_DOC_MODULES, their public classes and functions, in order."""
    parts = []
    with warnings.catch_warnings():  # e.g. typing.io's deprecation when its doc is read
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in STDLIB_DOC_MODULES:
            module = importlib.import_module(name)
            doc = inspect.getdoc(module)
            if doc:
                parts.append(doc)
            for attr, obj in sorted(vars(module).items()):
                if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                    continue
                if inspect.isclass(obj) or inspect.isroutine(obj):
                    doc = inspect.getdoc(obj)
                    if doc:
                        parts.append(doc)
    return "\n\n".join(parts)


def load_text_corpus(name: str = "python-help", max_chars: int | None = None) -> str:
    """Real English text that Python ships, as one str.

    name: "zen" — the Zen of Python (about 860 characters, from the `this` module, decoded
    with rot13; nothing is printed); "python-help" — every help topic of the interactive
    `help()` (pydoc_data.topics: the Python language reference in prose, about 465 K
    characters on Python 3.11); "stdlib-docs" — docstrings of 37 standard-library modules
    and their public classes and functions (about 230 K characters). The exact text
    depends on the Python version. max_chars: keep only the first max_chars characters.

    Source: the CPython distribution. Licence: Python Software Foundation License
    Version 2 (the Python documentation and source); free to use and redistribute.
    """
    loaders = {"zen": _zen, "python-help": _python_help, "stdlib-docs": _stdlib_docs}
    if name not in loaders:
        raise ValueError(f"unknown text corpus {name!r}; choose one of {list(loaders)}")
    text = loaders[name]()
    return text if max_chars is None else text[:max_chars]


def _read_file(name: str) -> str:
    resource = importlib.resources.files("dlbd_lib.data") / "files" / name
    return resource.read_text(encoding="utf-8")


def load_chinese_text() -> str:
    """Classical Chinese text (simplified characters), about 2,650 Han characters, as one str.

    Chapters of the 《道德经》 (Laozi, the Wang Bi text), sayings from the 《论语》
    (Analects), and 34 Tang poems (李白, 杜甫, 王维, ...), each under a title line: about
    3,340 code points in all, of which about 2,650 are Han characters (about 800 distinct)
    and the rest punctuation, line breaks and spaces. Too little to learn a language from:
    `load_tang_poems` has over 50 times as much.

    Source: dlbd_lib/data/files/chinese_classics.txt, typed for this course.
    Licence: the works are public domain; the transcription is CC0 1.0
    (see dlbd_lib/data/files/LICENSE.txt).
    """
    return _read_file("chinese_classics.txt")


class TangPoem(NamedTuple):
    """One poem: its author, its title and its text (no line breaks)."""

    author: str
    title: str
    text: str


def load_tang_poems() -> list[TangPoem]:
    """4,000 Tang poems of five-character lines (五言绝句 and 五言律诗), simplified characters.

    Returns a list of TangPoem(author: str, title: str, text: str), in the order of
    《全唐诗》; each text is 4 or 8 lines of five Han characters, joined without line
    breaks, every couplet ending in "，" and "。" ("鸣笳临乐馆，眺听欢芳节。..."). About
    143,000 Han characters, about 4,200 distinct, by about 580 poets (杜甫, 白居易, 李白, ...).

    Source: the 《全唐诗》 files of the chinese-poetry collection
    (https://github.com/chinese-poetry/chinese-poetry), converted from traditional to
    simplified characters with OpenCC by tools/build_tang_poems.py, which writes
    dlbd_lib/data/files/tang_poems.txt. Licence: the poems are public domain; the collection
    is MIT-licensed (see dlbd_lib/data/files/LICENSE.txt).
    """
    poems = []
    for line in _read_file("tang_poems.txt").splitlines():
        if line and not line.startswith("#"):
            author, title, text = line.split("\t")
            poems.append(TangPoem(author, title, text))
    return poems
