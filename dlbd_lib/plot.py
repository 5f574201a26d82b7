"""Pictures the course draws again and again: loss curves, decision boundaries, image grids,
feature maps and confusion matrices. Each takes arrays or tensors of either engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from dlbd_lib.nn.module import to_numpy

__all__ = ["loss_curves", "decision_boundary", "image_grid", "feature_maps",
           "confusion_matrix", "plot_confusion_matrix"]


def _axes(ax: Any, figsize: tuple[float, float] = (6, 4)) -> Any:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def loss_curves(history: Mapping[str, Sequence[float]], keys: Iterable[str] | None = None,
                ax: Any = None, logy: bool = False, title: str = "Learning curves") -> Any:
    """One line per key of history (e.g. loss, val_loss), against the epoch number."""
    ax = _axes(ax)
    keys = list(keys) if keys is not None else [k for k in history if k != "lr"]
    for k in keys:
        values = list(history[k])
        ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                ms=3, label=k)
    ax.set(xlabel="epoch", ylabel="value", title=title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def decision_boundary(predict: Callable[[np.ndarray], Any], X: Any, y: Any, ax: Any = None,
                      resolution: int = 200, title: str = "Decision boundary") -> Any:
    """Colour the plane by the predicted class and scatter the points on top.

    predict: maps a float32 array (M, 2) to class scores (M, C) or labels (M,).
    X: (N, 2) points; y: (N,) integer labels.
    """
    X, y = to_numpy(X), to_numpy(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary needs 2-D points (N, 2), got shape {X.shape}")
    ax = _axes(ax)
    pad = 0.1 * (X.max(0) - X.min(0))
    lo, hi = X.min(0) - pad, X.max(0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    out = to_numpy(predict(grid))
    labels = out.argmax(1) if out.ndim == 2 else out
    # one fixed colour per class (tab10), the same for the regions and the points: explicit
    # colours, because contourf rescales a colormap to the levels it is given
    tab10 = plt.get_cmap("tab10")
    n_levels = int(max(labels.max(), y.max())) + 1
    ax.contourf(gx, gy, labels.reshape(gx.shape), alpha=0.3,
                levels=np.arange(n_levels + 1) - 0.5,
                colors=[tab10(k % 10) for k in range(n_levels)])
    ax.scatter(X[:, 0], X[:, 1], c=[tab10(int(k) % 10) for k in y], s=10, edgecolors="k",
               linewidths=0.2)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    return ax


def image_grid(images: Any, titles: Sequence[str] | None = None, ncols: int = 10,
               cmap: str = "gray", size: float = 1.2, suptitle: str | None = None) -> Any:
    """Show images in a grid. images: (N, H, W), (N, 1, H, W) or (N, H*W) for square H=W."""
    imgs = to_numpy(images)
    if imgs.ndim == 4 and imgs.shape[1] in (1, 3):
        imgs = imgs[:, 0] if imgs.shape[1] == 1 else imgs.transpose(0, 2, 3, 1)
    elif imgs.ndim == 2:
        side = int(round(np.sqrt(imgs.shape[1])))
        if side * side != imgs.shape[1]:
            raise ValueError(f"cannot show rows of {imgs.shape[1]} values as square images")
        imgs = imgs.reshape(-1, side, side)
    n = len(imgs)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if titles is None:  # untitled rows would touch: leave a gap of a tenth of an image
        fig.subplots_adjust(hspace=0.1, wspace=0.1)
    return fig


def feature_maps(maps: Any, title: str = "Feature maps", ncols: int = 8) -> Any:
    """Show the channels of one sample's activations. maps: (C, H, W) or (1, C, H, W)."""
    arr = to_numpy(maps)
    if arr.ndim == 4:
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(f"feature_maps expects (C, H, W), got shape {arr.shape}")
    return image_grid(arr, titles=[f"ch {i}" for i in range(len(arr))], ncols=ncols,
                      cmap="viridis", suptitle=title)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class."""
    t, p = to_numpy(y_true).astype(np.int64), to_numpy(y_pred).astype(np.int64)
    c = int(num_classes or max(t.max(), p.max()) + 1)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def plot_confusion_matrix(cm: np.ndarray, ax: Any = None, title: str = "Confusion matrix") -> Any:
    """Draw a confusion matrix with counts written in the cells."""
    ax = _axes(ax, (5, 5))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                color="white" if v > cm.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title,
           xticks=range(len(cm)), yticks=range(len(cm)))
    return ax
