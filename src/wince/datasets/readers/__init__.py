"""Dataset readers: npz archives, CSV/Parquet tables, image folders, text/JSONL, WAV folders.

Each `read_<kind>(path, spec)` turns one source of a plan's data section into a `Dataset`;
`wince.datasets.loading.load_dataset` calls it with the plan's `DataSpec`. From Python the
same functions take keywords instead of (or on top of) a spec; a keyword overrides the spec's
field of the same name::

    read_csv("cases.csv", label="diagnosis", id="case_id")
    read_csv("cases.csv", plan.data)

Every reader honours `limit` (the first N samples) and reads no more than it needs. Tables,
npz archives and text are read into memory (`ArrayDataset`); image and WAV folders are read
lazily, one batch of files at a time (`ImageFolderDataset`, `WavFolderDataset`), so memory is
bounded by the batch size. Options that do not apply to a kind of source (`features` for an
image folder) raise `PlanError` rather than being ignored.

One module per format: `npz`, `tabular` (CSV, Parquet, DataFrames), `text` (text, JSONL),
`images` and `wav`; the last two share `folders` (layout, labels, ids, fingerprint) and all
share `common` (options from keywords or the plan, path and limit checks).
"""

from wince.datasets.readers.images import IMAGE_EXTENSIONS, ImageFolderDataset, read_images
from wince.datasets.readers.npz import read_npz
from wince.datasets.readers.tabular import read_csv, read_frame, read_parquet
from wince.datasets.readers.text import read_jsonl, read_text
from wince.datasets.readers.wav import WAV_EXTENSIONS, WavFolderDataset, read_wav

__all__ = [
    "IMAGE_EXTENSIONS",
    "WAV_EXTENSIONS",
    "ImageFolderDataset",
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
