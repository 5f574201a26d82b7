"""Local paths and fsspec URLs (s3://, gs://, memory://, file://) behind one small interface.

A location is kept as a `pathlib.Path` when it is on this machine (a plain path or a
file:// URL) and as a URL string otherwise, because pathlib mangles URLs
(`Path("s3://b/t") / "x"` is `s3:/b/t/x`). fsspec is imported only for URLs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["Location", "is_url", "location", "join", "filesystem", "exists_file", "is_dir",
           "find_parquet", "makedirs", "size"]

Location = Path | str


def is_url(source: Any) -> bool:
    """True for a remote fsspec URL such as "s3://bucket/key" (file:// counts as local)."""
    return isinstance(source, str) and "://" in source and not source.startswith("file://")


def location(source: str | os.PathLike) -> Location:
    """A Path for local files (file:// URLs included), the URL string for anything else."""
    if isinstance(source, str) and source.startswith("file://"):
        return Path(source[len("file://"):])
    return source.rstrip("/") if is_url(source) else Path(source)


def join(base: str | os.PathLike, *parts: str) -> Location:
    """base / part / ... for a path or a URL (URLs are joined with "/", never by pathlib)."""
    base = location(base)
    if isinstance(base, Path):
        return base.joinpath(*parts)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def filesystem(loc: Location, storage_options: dict | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for a URL; (None, str path) for a local path.

    None lets pyarrow use its own fast local file system.
    """
    if isinstance(loc, Path):
        return None, str(loc)
    import fsspec  # lazily: only URLs need it

    try:
        fs, path = fsspec.core.url_to_fs(loc, **(storage_options or {}))
    except (ImportError, ValueError) as err:
        raise ValueError(f"cannot open {loc!r}: {err} (s3:// needs the s3fs package, "
                         "gs:// needs gcsfs)") from None
    return fs, path


def exists_file(loc: Location, storage_options: dict | None = None) -> bool:
    """Whether loc is an existing file."""
    fs, path = filesystem(loc, storage_options)
    return Path(path).is_file() if fs is None else fs.isfile(path)


def is_dir(loc: Location, storage_options: dict | None = None) -> bool:
    """Whether loc is a directory (for object stores: a prefix with objects under it)."""
    fs, path = filesystem(loc, storage_options)
    return Path(path).is_dir() if fs is None else fs.isdir(path)


def find_parquet(root: Location, storage_options: dict | None = None) -> list[Location]:
    """Every *.parquet below root, sorted; files under a name starting with _ or . left out."""
    fs, path = filesystem(root, storage_options)
    if fs is None:
        base = Path(path)
        return sorted(p for p in base.rglob("*.parquet")
                      if not any(part.startswith(("_", "."))
                                 for part in p.relative_to(base).parts))
    prefix = path.rstrip("/") + "/"
    found = []
    for name in fs.find(path):
        rel = name[len(prefix):] if name.startswith(prefix) else name.rsplit("/", 1)[-1]
        if rel.endswith(".parquet") and not any(
                part.startswith(("_", ".")) for part in rel.split("/")):
            found.append(join(root, rel))
    return sorted(found)


def makedirs(loc: Location, storage_options: dict | None = None) -> None:
    """Create the directory loc and its parents (a no-op on most object stores)."""
    fs, path = filesystem(loc, storage_options)
    if fs is None:
        Path(path).mkdir(parents=True, exist_ok=True)
    else:
        fs.makedirs(path, exist_ok=True)


def size(loc: Location, storage_options: dict | None = None) -> int:
    """Size of the file loc in bytes."""
    fs, path = filesystem(loc, storage_options)
    return Path(path).stat().st_size if fs is None else int(fs.size(path))
