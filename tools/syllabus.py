"""Rewrite the README's syllabus table from the notebooks on disk and the last test run.

    python tools/syllabus.py            # update README.md in place
    python tools/syllabus.py --check    # exit 1 if the table is out of date

Topics come from each notebook's title line (`# NN · Title`) and a one-line summary kept
here; times come from test-artifacts/notebook-times.json, written by every `pytest` run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TIMES = ROOT / "test-artifacts" / "notebook-times.json"
START, END = "<!-- syllabus:start -->", "<!-- syllabus:end -->"

SUMMARY = {
    "00": "what makes data big (measured), the five application areas, a first model: the "
          "same loop in both engines",
    "01": "ndarray as tensor, broadcasting, dtypes and memory, a CSR product from scratch, "
          "memory-mapped streaming; torch tensors, sparse and devices",
    "02": "perceptron, activations, MLP forward pass, learned features vs hand-made ones and "
          "a parameter-matched PCA baseline, chosen on validation",
    "03": "MSE and cross-entropy as likelihoods (and KL), stable log-softmax, why not MSE for "
          "classes, derivatives by hand, finite differences, float16 overflow",
    "04": "Linear and softmax-CE backward derived, Jacobians and VJPs, a tiny autograd "
          "engine, the real one, gradient checks, backward vs forward cost",
    "05": "GD, SGD, momentum, Nesterov; RMSprop, Adam (bias correction), AdamW from "
          "scratch; LR decay, momentum schedule, plateaus; streaming from disk; a widget",
    "06": "training loop, metrics, over/underfitting, weight decay, dropout, early stopping; "
          "the course's protocol; MLP vs logistic regression, k-NN and an RBF SVM",
    "07": "convolution by hand and by im2col, its backward (col2im) and max-pool's, LeNet, "
          "feature maps; against logistic regression, k-NN and an RBF SVM on validation, a "
          "ResNet block with batch norm and augmentation ties the SVM",
    "07b": "a video task that needs the order of the frames (which card passes in front), "
           "proved blind for single frames and bags of frames; shortcuts; a 3-D convolution "
           "from conv2d, CNN + GRU; every model from three seeds, a results table, frames/s in "
           "both engines",
    "08": "RNN cell and BPTT, vanishing/exploding gradients, clipping; forecasting a real "
          "series against naive, drift, linear AR and Holt-Winters; LSTM/GRU; one global GRU "
          "on 1,000 related series vs per-series and global baselines, and its error against "
          "the number of series",
    "09": "tokens, bag of words, TF-IDF, keywords, CBOW embeddings on a block-wise split, a "
          "character-level LSTM language model vs Kneser–Ney n-grams (a long run with its "
          "choices made on validation); Chinese word segmentation (jieba), a poet's "
          "keywords, Tang-poetry LM",
    "09b": "scaled dot-product and multi-head attention, causal masks, positions, a "
           "character Transformer vs n-gram and LSTM, TF-IDF vs Transformer, the L² cost",
    "10": "autoencoders vs PCA, k-means on codes, denoising, anomaly detection with a "
          "threshold chosen on validation",
    "11": "a GAN on 2-D mixtures, mode collapse, a digit GAN in torch judged by precision "
          "and recall against held-out digits",
    "12": "sparse ratings with a long tail, regularised biases, matrix factorisation by SGD "
          "and ALS chosen on validation, recall@k and NDCG@k against popularity and an "
          "oracle, implicit feedback: neural CF vs MF",
    "13": "out-of-core data, streaming, against an in-memory pandas + scikit-learn baseline "
          "(measured bytes per row), DataLoader workers, throughput, mixed precision, "
          "data-parallel training, Dask",
    "14": "CPU/GPU/TPU, exporting a model and running it from C (and C++ with libtorch), "
          "frameworks, what comes next",
}

# Fresh-kernel times of notebooks the last recorded test run did not include yet
# (replaced by the measured time as soon as test-artifacts/notebook-times.json has one).
ESTIMATED: dict[str, float] = {
    "07b_video_and_temporal_models.ipynb": 60.1,  # nbval, 2 shared cores at load ~3 (43 s CPU)
}


def _title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source.splitlines()[0] if nb.cells else path.stem
    return first.lstrip("# ").split("·", 1)[-1].strip()


def render() -> str:
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    rows = ["| # | notebook | what you do | exercises | time* |", "|---|---|---|---|---|"]
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb")):
        num = nb.name.split("_", 1)[0]  # "09", or "09b" for a notebook that sits after 09
        ex = ROOT / "exercises" / nb.name
        ex_link = f"[exercises](exercises/{nb.name}) · [solutions](solutions/{nb.name})" \
            if ex.exists() else "—"
        secs = times.get(f"notebooks/{nb.name}", ESTIMATED.get(nb.name))
        rows.append(f"| {num} | [{_title(nb)}](notebooks/{nb.name}) | {SUMMARY.get(num, '')} "
                    f"| {ex_link} | {f'{secs:.0f} s' if secs is not None else '—'} |")
    return "\n".join(rows)


def updated_readme() -> str:
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + "\n" + render() + "\n" + END + tail


def main(argv: list[str]) -> int:
    new = updated_readme()
    if "--check" in argv:
        old = README.read_text(encoding="utf-8")
        strip = [ln.rsplit("|", 2)[0] for ln in old.splitlines()]
        strip_new = [ln.rsplit("|", 2)[0] for ln in new.splitlines()]
        if strip != strip_new:  # times may differ from run to run; the rows may not
            print("README.md's syllabus is out of date: run python tools/syllabus.py")
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    print("README.md syllabus updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
