"""DataLoader, TensorDataset, collation: torch.utils.data semantics on numpy."""

from __future__ import annotations

import numpy as np
import pytest

from dlbd_lib.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split
from dlbd_lib.tensor import Tensor

torch = pytest.importorskip("torch")


def make_xy(n: int = 10, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64) % 3
    return X, y


class Squares(Dataset):
    """A generic map-style dataset: sample i is (array, float, int)."""

    def __len__(self) -> int:
        return 7

    def __getitem__(self, i: int) -> tuple:
        return np.full((2, 2), i, dtype=np.float32), float(i) / 2, i * i


# ---- TensorDataset -------------------------------------------------------------------
def test_tensor_dataset_len_getitem_and_inputs() -> None:
    X, y = make_xy()
    for ds in (TensorDataset(X, y), TensorDataset(Tensor(X), Tensor(y))):
        assert len(ds) == 10
        x0, y0 = ds[4]
        assert isinstance(x0, Tensor) and isinstance(y0, Tensor)
        np.testing.assert_array_equal(x0.data, X[4])
        assert y0.item() == y[4] and y0.dtype == np.int64
        assert isinstance(ds.tensors[0], Tensor)
    ds = TensorDataset(torch.from_numpy(X))
    np.testing.assert_array_equal(ds[2][0].data, X[2])


def test_tensor_dataset_size_mismatch_names_sizes() -> None:
    with pytest.raises(ValueError, match=r"same size in the first dimension.*\[10, 9\]"):
        TensorDataset(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


# ---- DataLoader vs torch ---------------------------------------------------------------
@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 3, False), (10, 3, True), (10, 5, False),
                                                    (10, 5, True), (7, 10, False), (7, 10, True),
                                                    (1, 1, False)])
def test_loader_matches_torch_without_shuffle(n: int, batch_size: int, drop_last: bool) -> None:
    X, y = make_xy(n)
    ours = DataLoader(TensorDataset(X, y), batch_size=batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
        batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    ours_batches, their_batches = list(ours), list(theirs)
    assert len(ours_batches) == len(their_batches) == len(ours)
    for (xb, yb), (tx, ty) in zip(ours_batches, their_batches):
        assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
        np.testing.assert_array_equal(xb.data, tx.numpy())
        np.testing.assert_array_equal(yb.data, ty.numpy())
        assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_loader_generic_dataset_collates_like_torch() -> None:
    ours = list(DataLoader(Squares(), batch_size=3))
    theirs = list(torch.utils.data.DataLoader(Squares(), batch_size=3))
    assert [len(b[0]) for b in ours] == [3, 3, 1]
    for (a, f, i), (ta, tf, ti) in zip(ours, theirs):
        assert a.shape == tuple(ta.shape) == (len(a), 2, 2)
        np.testing.assert_array_equal(a.data, ta.numpy())
        np.testing.assert_allclose(f.data, tf.numpy())
        np.testing.assert_array_equal(i.data, ti.numpy())
        assert a.dtype == np.float32 and i.dtype == np.int64
        assert f.dtype == np.float32  # the course's rule (torch says float64 here)


def test_default_collate_dicts_and_strings() -> None:
    batch = default_collate([{"x": np.ones(2), "name": "a"}, {"x": np.zeros(2), "name": "b"}])
    assert batch["x"].shape == (2, 2) and batch["name"] == ["a", "b"]


def test_tensor_dataset_is_fetched_by_batch_not_by_sample(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    X, y = make_xy(50)
    ds = TensorDataset(X, y)

    def no_per_sample(self: TensorDataset, index: int) -> None:
        raise AssertionError("DataLoader looped over samples of a TensorDataset")

    monkeypatch.setattr(TensorDataset, "__getitem__", no_per_sample)
    got = np.concatenate([xb.data for xb, _ in DataLoader(ds, batch_size=8, shuffle=True,
                                                          seed=0)])
    assert sorted(got[:, 0].tolist()) == sorted(X[:, 0].tolist())


# ---- shuffling -----------------------------------------------------------------------
def epoch_order(loader: DataLoader) -> list[int]:
    return [int(v) for _, yb in loader for v in yb.data]


def test_seeded_shuffle_is_reproducible_and_reshuffles_each_epoch() -> None:
    X = np.zeros((100, 1), dtype=np.float32)
    ids = np.arange(100)
    a = DataLoader(TensorDataset(X, ids), batch_size=16, shuffle=True, seed=42)
    b = DataLoader(TensorDataset(X, ids), batch_size=16, shuffle=True, seed=42)
    a1, a2 = epoch_order(a), epoch_order(a)
    assert a1 == epoch_order(b) and a2 == epoch_order(b)  # same seed: same epochs
    assert a1 != a2  # a new order each epoch
    assert sorted(a1) == list(range(100)) and a1 != list(range(100))
    c = DataLoader(TensorDataset(X, ids), batch_size=16, shuffle=True, seed=43)
    assert epoch_order(c) != a1


def test_generator_and_global_seed() -> None:
    ds = TensorDataset(np.zeros((30, 1)), np.arange(30))
    g1 = DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(5))
    g2 = DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(5))
    assert epoch_order(g1) == epoch_order(g2)
    np.random.seed(7)
    first = epoch_order(DataLoader(ds, batch_size=4, shuffle=True))
    np.random.seed(7)
    assert epoch_order(DataLoader(ds, batch_size=4, shuffle=True)) == first
    with pytest.raises(ValueError, match="either seed or generator"):
        DataLoader(ds, shuffle=True, seed=1, generator=np.random.default_rng(1))


def test_drop_last_with_shuffle_drops_one_partial_batch() -> None:
    ds = TensorDataset(np.zeros((10, 1)), np.arange(10))
    loader = DataLoader(ds, batch_size=4, shuffle=True, drop_last=True, seed=0)
    sizes = [len(yb) for _, yb in loader]
    assert sizes == [4, 4] and len(loader) == 2


# ---- errors and odd arguments ------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "8"])
def test_bad_batch_size_is_a_clear_value_error(bad: object) -> None:
    ds = TensorDataset(np.zeros((4, 1)))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=bad)


def test_unbatched_loader_and_its_errors() -> None:
    ds = TensorDataset(np.zeros((3, 2), dtype=np.float32), np.arange(3))
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 3 and items[1][0].shape == (2,) and items[1][1].item() == 1
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(TypeError, match="map-style"):
        DataLoader(iter([1, 2, 3]))


def test_custom_collate_fn_is_used() -> None:
    ds = TensorDataset(np.arange(6))
    batches = list(DataLoader(ds, batch_size=4, collate_fn=lambda b: len(b)))
    assert batches == [4, 2]


# ---- random_split / Subset --------------------------------------------------------------
def test_random_split_fractions_and_counts() -> None:
    ds = TensorDataset(np.arange(10)[:, None], np.arange(10))
    train, val = random_split(ds, [0.7, 0.3], seed=0)
    assert (len(train), len(val)) == (7, 3)
    ids = [int(ds_i[1].item()) for part in (train, val) for ds_i in
           (part[i] for i in range(len(part)))]
    assert sorted(ids) == list(range(10))
    again = random_split(ds, [7, 3], seed=0)
    np.testing.assert_array_equal(again[0].indices, train.indices)
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ds, [5, 4])
    # a Subset of a TensorDataset is still fetched by batch
    (xb, yb), = list(DataLoader(train, batch_size=10))
    np.testing.assert_array_equal(yb.data, train.indices)


def test_subset_of_generic_dataset_collates_samples() -> None:
    sub = Subset(Squares(), [6, 0, 3])
    (a, _, i), = list(DataLoader(sub, batch_size=3))
    np.testing.assert_array_equal(i.data, [36, 0, 9])
    assert a.shape == (3, 2, 2)
