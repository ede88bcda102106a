"""Dataset readers: arrays, npz, CSV/Parquet, image folders, text/JSONL, WAV folders."""

from wince.datasets.base import ArrayDataset, Dataset
from wince.datasets.readers import (
    ImageFolderDataset,
    WavFolderDataset,
    read_csv,
    read_frame,
    read_images,
    read_jsonl,
    read_npz,
    read_parquet,
    read_text,
    read_wav,
)
from wince.datasets.tables import TableSchema

__all__ = [
    "ArrayDataset",
    "Dataset",
    "ImageFolderDataset",
    "TableSchema",
    "WavFolderDataset",
    "read_csv",
    "read_frame",
    "read_images",
    "read_jsonl",
    "read_npz",
    "read_parquet",
    "read_text",
    "read_wav",
]
