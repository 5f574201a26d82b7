"""Data for the course: DataLoader, streaming from disk, Parquet partitions, datasets.

Nothing here downloads anything: the datasets come from files that installed packages
ship (scikit-learn, statsmodels, Python itself), from small files in this package, or
from seeded generators. Optional dependencies (scikit-learn, pyarrow, scipy, torch) are
imported only by the functions that need them.

- loader:      Dataset, TensorDataset, Subset, random_split, DataLoader, default_collate
- streaming:   write_memmap_dataset, MemmapDataset, stream_batches (memory-mapped .npy)
- partitioned: write_partitioned_parquet, PartitionedDataset (Parquet directories or
               fsspec URLs: s3://, gs://, memory://, file://)
- dask_pipeline: feature_stats, train_val_split (out of core, with Dask)
- datasets:    load_digits, moving_digits, load_co2, load_sunspots
- video:       crossing_digits (clips whose label needs the order of the frames), CrossingClips
- text:        load_text_corpus, load_chinese_text, load_tang_poems
- synthetic:   make_regression_data, make_moons, make_spirals, make_gaussian_mixture,
               make_ratings, make_series_panel (many related series with promotions)
"""

from dlbd_lib.data.dask_pipeline import feature_stats, train_val_split
from dlbd_lib.data.datasets import (
    MOVING_DIRECTIONS,
    TimeSeries,
    load_co2,
    load_digits,
    load_sunspots,
    moving_digits,
)
from dlbd_lib.data.loader import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)
from dlbd_lib.data.partitioned import (
    PartitionedDataset,
    PartitionedInfo,
    PartitionError,
    write_partitioned_parquet,
)
from dlbd_lib.data.streaming import (
    MemmapDataset,
    MemmapInfo,
    stream_batches,
    write_memmap_dataset,
)
from dlbd_lib.data.synthetic import (
    Ratings,
    SeriesPanel,
    make_gaussian_mixture,
    make_moons,
    make_ratings,
    make_regression_data,
    make_series_panel,
    make_spirals,
    months_since_promotion,
    promotion_lift,
)
from dlbd_lib.data.text import (
    TEXT_CORPORA,
    TangPoem,
    load_chinese_text,
    load_tang_poems,
    load_text_corpus,
)
from dlbd_lib.data.video import CrossingClips, crossing_digits

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "random_split",
    "default_collate",
    "DataLoader",
    "MemmapInfo",
    "MemmapDataset",
    "write_memmap_dataset",
    "stream_batches",
    "PartitionError",
    "PartitionedDataset",
    "PartitionedInfo",
    "write_partitioned_parquet",
    "feature_stats",
    "train_val_split",
    "load_digits",
    "moving_digits",
    "MOVING_DIRECTIONS",
    "crossing_digits",
    "CrossingClips",
    "TimeSeries",
    "load_co2",
    "load_sunspots",
    "TEXT_CORPORA",
    "load_text_corpus",
    "load_chinese_text",
    "TangPoem",
    "load_tang_poems",
    "make_regression_data",
    "make_moons",
    "make_spirals",
    "make_gaussian_mixture",
    "Ratings",
    "make_ratings",
    "SeriesPanel",
    "make_series_panel",
    "promotion_lift",
    "months_since_promotion",
]
