"""Dataset readers: arrays, npz, CSV/Parquet, image folders, text/JSONL, WAV folders."""

from wince.datasets.base import ArrayDataset, Dataset

__all__ = ["ArrayDataset", "Dataset"]
