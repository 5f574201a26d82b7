"""decision_boundary colours each class the same in the regions and in the points."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from dlbd_lib.plot import decision_boundary  # noqa: E402


def test_region_and_point_colours_match_for_two_classes():
    X = np.array([[-1.0, 0.0], [-0.5, 0.3], [0.5, -0.2], [1.0, 0.1]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    ax = decision_boundary(lambda g: (g[:, 0] > 0).astype(np.int64), X, y)
    regions = ax.collections[0]
    tab10 = plt.get_cmap("tab10")
    fills = [tuple(np.round(c[:3], 6)) for c in regions.get_facecolor()]
    assert fills == [tuple(np.round(to_rgba(tab10(k))[:3], 6)) for k in (0, 1)]
    points = ax.collections[-1].get_facecolor()
    for k in (0, 1):
        np.testing.assert_allclose(points[y == k][:, :3], [to_rgba(tab10(k))[:3]] * 2)
    plt.close("all")
