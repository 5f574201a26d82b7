"""Real text for NLP and character-level language models, all shipped offline.

English comes from Python itself (the Zen of Python, the interactive help texts, the
docstrings of standard-library modules), so it is there wherever Python is; a few KB of
classical Chinese (public domain) ship with dlbd_lib in `dlbd_lib/data/files/`.
"""

from __future__ import annotations

import ast
import codecs
import importlib
import importlib.resources
import importlib.util
import inspect
import warnings

__all__ = ["TEXT_CORPORA", "STDLIB_DOC_MODULES", "load_text_corpus", "load_chinese_text"]

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


def load_chinese_text() -> str:
    """Classical Chinese text (simplified characters), about 3,350 characters, as one str.

    Chapters of the 《道德经》 (Laozi), sayings from the 《论语》 (Analects), and 34 Tang
    poems (李白, 杜甫, 王维, ...), each under a title line; about 820 distinct characters,
    a small vocabulary for a character-level language model.

    Source: dlbd_lib/data/files/chinese_classics.txt, typed for this course.
    Licence: the works are public domain; the transcription is CC0 1.0
    (see dlbd_lib/data/files/LICENSE.txt).
    """
    resource = importlib.resources.files("dlbd_lib.data") / "files" / "chinese_classics.txt"
    return resource.read_text(encoding="utf-8")
