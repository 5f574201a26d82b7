"""Every course notebook opens with a short Chinese summary (本节内容) under its English title."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HAN = re.compile(r"[\u4e00-\u9fff]")


def _tool():
    spec = importlib.util.spec_from_file_location("zh_summaries",
                                                  ROOT / "tools" / "zh_summaries.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zh = _tool()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_its_chinese_summary_under_the_title(path):
    source = nbformat.read(path, as_version=4).cells[0].source
    lines = source.split("\n")
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2] == zh.HEADER, (
        f"{path.name}: no '{zh.HEADER}' block right under the title; "
        "run python tools/zh_summaries.py")
    items = []
    for line in lines[3:]:
        if not line.startswith(">"):
            break
        items.append(line)
    assert 3 <= len(items) <= 5, f"{path.name}: the summary has {len(items)} lines, not 3-5"
    assert all(line.startswith("> - ") and HAN.search(line) for line in items), items
    assert not zh.apply(path, check=True), \
        f"{path.name}'s summary differs from tools/zh_summaries.py: run it"


def test_every_summary_is_three_to_five_chinese_lines():
    for num, lines in zh.SUMMARIES.items():
        assert 3 <= len(lines) <= 5, num
        assert all(HAN.search(line) for line in lines), num


def test_the_script_is_idempotent_and_replaces_an_old_summary(tmp_path):
    path = tmp_path / "09_nlp_text_as_data.ipynb"
    shutil.copy(ROOT / "notebooks" / path.name, path)
    nb = nbformat.read(path, as_version=4)
    title, *_ = nb.cells[0].source.split("\n")
    nb.cells[0].source = f"{title}\n\n{zh.HEADER}\n> - 旧的摘要\n\nEnglish text."
    nbformat.write(nb, path)
    assert zh.apply(path) is True
    once = nbformat.read(path, as_version=4).cells[0].source
    assert "旧的摘要" not in once and once.endswith("\n\nEnglish text.")
    assert once.count(zh.HEADER) == 1
    assert zh.apply(path) is False                       # a second run changes nothing
    assert nbformat.read(path, as_version=4).cells[0].source == once
