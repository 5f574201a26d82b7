"""Build dlbd_lib/data/files/tang_poems.txt from the chinese-poetry collection (run once).

    git clone https://github.com/chinese-poetry/chinese-poetry /tmp/chinese-poetry
    python -m pip install "opencc>=1.1,<2"        # only for this build, not for the course
    python tools/build_tang_poems.py /tmp/chinese-poetry [--commit SHA]

Source: the 《全唐诗》 JSON files `全唐诗/poet.tang.*.json` of chinese-poetry (MIT licence
for the collection; the poems, written 618-907, are in the public domain). They are in
traditional characters; OpenCC's "t2s" conversion (the `opencc` package from PyPI) turns
them into simplified ones.

Kept: five-character regulated verse, 五言绝句 (4 lines) and 五言律诗 (8 lines), whose every
line is five Han characters and whose couplets end in "，" and "。" (so no variant notes,
missing characters or irregular forms), each text once. From those, N_POEMS (seed 0) in the
collection's order. Output: a header of "#" lines (provenance), then one poem per line,
`author<TAB>title<TAB>text`, the text without line breaks ("床前明月光，疑是地上霜。...").
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "dlbd_lib" / "data" / "files" / "tang_poems.txt"
N_POEMS = 4000
COUPLET = re.compile(r"^[\u4e00-\u9fff]{5}，[\u4e00-\u9fff]{5}。$")


def poems(folder: Path):
    """(author, title, paragraphs) of every Tang poem, in the collection's file order."""
    files = sorted(folder.glob("poet.tang.*.json"), key=lambda p: int(p.name.split(".")[2]))
    if not files:
        raise SystemExit(f"no poet.tang.*.json in {folder}")
    for path in files:
        for poem in json.loads(path.read_text(encoding="utf-8")):
            yield poem["author"], poem["title"], poem["paragraphs"]


def build(repo: Path, commit: str) -> str:
    import opencc

    t2s = opencc.OpenCC("t2s")
    seen, kept = set(), []
    for author, title, paragraphs in poems(repo / "全唐诗"):
        lines = [t2s.convert(p) for p in paragraphs]
        if len(lines) not in (2, 4) or not all(COUPLET.match(x) for x in lines):
            continue
        text = "".join(lines)
        if text in seen:
            continue
        seen.add(text)
        kept.append((t2s.convert(author), t2s.convert(title).replace("\t", " "), text))
    chosen = np.sort(np.random.default_rng(0).choice(len(kept), N_POEMS, replace=False))
    header = [
        "# 唐诗五言绝句、律诗 (Tang-dynasty five-character quatrains and regulated verse)",
        f"# {N_POEMS} of the {len(kept)} such poems of 《全唐诗》 in the chinese-poetry "
        "collection,",
        f"# https://github.com/chinese-poetry/chinese-poetry (commit {commit}),",
        "# converted to simplified characters with OpenCC (t2s), by tools/build_tang_poems.py.",
        "# The poems are in the public domain; the collection is MIT-licensed (LICENSE.txt).",
        "# One poem per line: author<TAB>title<TAB>text.",
    ]
    body = ["\t".join(kept[i]) for i in chosen]
    return "\n".join(header + body) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="a checkout of chinese-poetry/chinese-poetry")
    parser.add_argument("--commit", default="unknown", help="the checkout's commit, recorded")
    args = parser.parse_args()
    OUT.write_text(build(args.repo, args.commit), encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} KB)")


if __name__ == "__main__":
    main()
