"""docs/glossary.md's "where" column agrees with the notebooks.

The rule, one row at a time. The English cell is a list of terms separated by ","; each term
has alternatives, separated by "/" or put in parentheses ("predictive analytics
(forecasting)" is one term with two spellings). "04" in the where column means
notebooks/04_*.ipynb (all its cells, markdown and code); "ex. 01" means the exercises of 01
(solutions/01_*.ipynb). A row holds when
  - every notebook it names mentions at least one of its terms, and
  - every term is mentioned in at least one of the notebooks it names.
Matching ignores case, treats "-", "–" and "`" as nothing, "_" and runs of white space as one
space ("hyper-parameter" = "hyperparameter", "init_process_group" contains "process group"),
and accepts "-ize" for "-ise" (-ized, -izing, -ization). AGREED adds keywords for the few
terms a notebook names in other words.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"

# one term of the English column -> extra keywords a notebook may use for it
AGREED = {
    "representation learning": ["learned representation"],
    "loss function": ["loss"],
    "convergence": ["converge"],
    "generalisation": ["new data"],
    "sampling temperature": ["temperature"],
    "distributed training": ["torch.distributed"],
    "half precision": ["float16"],
    "numerical stability": ["stable"],
    "partial derivative": ["\\partial"],
    "momentum method": ["momentum"],
    "step decay": ["StepLR", "step schedule"],
    "exponential decay": ["ExponentialLR"],
    "iteration": ["update"],
    "video frame": ["frame"],
    "seasonality": ["seasonal"],
    "tokenisation": ["tokenise", "tokenizer"],
    "popularity baseline": ["popular"],
    "model export": ["export"],
}


def _norm(text: str) -> str:
    text = re.sub(r"[-–`]", "", text.lower())
    text = re.sub(r"[\s_]+", " ", text)
    return re.sub(r"is(e|ed|ing|ation)\b", r"iz\1", text)


def rows() -> list[tuple[int, str, str, list[str]]]:
    """(line number, English, 中文, [where...]) for every table row of the glossary."""
    found = []
    for number, line in enumerate(GLOSSARY.read_text(encoding="utf-8").splitlines(), 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3 or set(cells[0]) <= set("-") \
                or cells[0] == "English":
            continue
        where = [w.strip() for w in cells[2].split(",") if w.strip()]
        found.append((number, cells[0], cells[1], where))
    return found


def terms(english: str) -> list[list[str]]:
    """The English cell's terms, each a list of its alternative spellings."""
    found = []
    for term in english.split(","):
        alternatives = [a.strip() for a in re.split(r"[/()]", term) if len(a.strip()) > 1]
        found.append(alternatives + AGREED.get(term.strip(), []))
    return found


_TEXTS: dict[str, str] = {}


def notebook_text(where: str) -> tuple[str, str]:
    """(path, normalised text) of the notebook a "where" entry names."""
    m = re.fullmatch(r"(ex\. )?(\d\d[a-z]?)", where)
    assert m, f"'{where}' is not a notebook number (NN, NNb or 'ex. NN')"
    folder = "solutions" if m.group(1) else "notebooks"
    paths = sorted((ROOT / folder).glob(f"{m.group(2)}_*.ipynb"))
    assert paths, f"there is no {folder}/{m.group(2)}_*.ipynb"
    key = str(paths[0])
    if key not in _TEXTS:
        nb = nbformat.read(paths[0], as_version=4)
        _TEXTS[key] = _norm("\n".join(c.source for c in nb.cells))
    return f"{folder}/{paths[0].name}", _TEXTS[key]


ROWS = rows()


def test_the_glossary_has_rows_and_where_entries():
    assert len(ROWS) > 100
    assert all(where for _, _, _, where in ROWS), \
        [f"line {n}: {en}" for n, en, _, where in ROWS if not where]


@pytest.mark.parametrize("number,english,chinese,where", ROWS,
                         ids=[f"{en}-{'+'.join(w)}" for _, en, _, w in ROWS])
def test_each_term_is_in_the_notebooks_its_where_column_names(number, english, chinese,
                                                                   where):
    row = f"docs/glossary.md line {number}: '{english}' ({chinese}), where = {', '.join(where)}"
    texts = [notebook_text(entry) for entry in where]
    mentions = {path: [t[0] for t in terms(english) if any(_norm(a) in text for a in t)]
                for path, text in texts}
    silent = [path for path, found in mentions.items() if not found]
    assert not silent, (f"{row}: {', '.join(silent)} mentions none of its terms "
                        f"{terms(english)}. Fix the where column, or name the term there.")
    for term in terms(english):
        assert any(term[0] in found for found in mentions.values()), (
            f"{row}: the term {term} is in none of {', '.join(mentions)}. Fix the where "
            "column, or name the term there.")


def test_chinese_terms_follow_standard_usage():
    """The terms issue #18 corrected (checked against the Chinese edition of d2l)."""
    zh = {en: chinese for _, en, chinese, _ in ROWS}
    expected = {
        "softmax, log-softmax": "softmax函数",
        "batch normalisation": "批量规范化",
        "tokenisation, token, vocabulary": "词元化",
        "word segmentation": "分词",
        "epoch, iteration": "迭代周期",
        "momentum method, Nesterov momentum": "动量法",
        "backpropagation through time (BPTT)": "通过时间反向传播",
        "topological order, topological sort": "拓扑序",
        "pooling (max, average)": "汇聚",
        "regularisation, dropout": "暂退法",
    }
    for english, term in expected.items():
        assert term in zh[english], f"{english}: expected {term} in {zh[english]!r}"
    assert "池化" in zh["pooling (max, average)"] and "丢弃法" in zh["regularisation, dropout"]
    assert "软最大化" not in GLOSSARY.read_text(encoding="utf-8")
    for seed in ("分类", "聚类", "预测分析", "自然语言处理", "关键词提取", "推荐系统"):
        assert seed in zh.values(), f"the seed term {seed} has no row of its own"
