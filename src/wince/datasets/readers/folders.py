"""Folders of files, one sample per file: the layout, labels, ids and fingerprint they share.

Images and WAV files are read the same way: files directly in the folder are unlabelled, files
under an immediate subfolder are labelled with its name, ids are the paths relative to the
folder, and files are read lazily one batch at a time. `images` and `wav` supply the decoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from wince.datasets.base import Dataset
from wince.datasets.readers.common import check_limit, existing, reject
from wince.errors import DataError

if TYPE_CHECKING:
    from wince.plan import DataSpec

_CHUNK_BYTES = 1 << 20


def reject_folder_options(spec: DataSpec | None, kind: str) -> None:
    """Refuse the plan options a folder's layout decides: label, id, inputs and features.

    Raises:
        PlanError: naming the option set and why it does not apply.
    """
    reject(
        spec,
        kind,
        ["label", "id", "inputs", "features"],
        "labels are the subfolder names and ids the relative file paths.",
    )


def scan_folder(
    folder: Path, extensions: Sequence[str], noun: str
) -> tuple[list[Path], list[str] | None]:
    """Files of a folder and their labels (subfolder names), in a stable order.

    Files directly in `folder` are unlabelled; files anywhere under an immediate subfolder are
    labelled with its name. Hidden files and folders (".name") and other extensions are
    skipped. Order: labels sorted, then relative paths sorted.
    """

    def wanted(path: Path) -> bool:
        parts = path.relative_to(folder).parts
        return (
            path.suffix.lower() in extensions
            and not any(p.startswith(".") for p in parts)
            and path.is_file()
        )

    loose = sorted((p for p in folder.iterdir() if wanted(p)), key=lambda p: p.name)
    classes = sorted(
        (d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.name,
    )
    files: list[Path] = []
    labels: list[str] = []
    for directory in classes:
        inside = sorted(
            (p for p in directory.rglob("*") if wanted(p)),
            key=lambda p: p.relative_to(folder).as_posix(),
        )
        files += inside
        labels += [directory.name] * len(inside)
    kinds = "/".join(extensions)
    if loose and files:
        raise DataError(
            f"{folder}: holds {noun} both directly ({loose[0].name}) and in subfolders "
            f"({files[0].relative_to(folder).as_posix()}). Put every file in a class "
            "subfolder (labelled data), or all directly in the folder (unlabelled data)."
        )
    if loose:
        return loose, None
    if not files:
        raise DataError(
            f"{folder}: no {noun} ({kinds}) in the folder or its subfolders; check the path."
        )
    return files, labels


class FileFolderDataset(Dataset):
    """A folder of files, one sample per file, read lazily one batch at a time."""

    kind: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    noun: ClassVar[str]

    def __init__(self, folder: str | Path, *, limit: int | None = None) -> None:
        self.folder = existing(folder, self.kind, folder=True)
        self.name = str(self.folder)
        files, labels = scan_folder(self.folder, self.extensions, self.noun)
        n = check_limit(limit)
        self.files: tuple[Path, ...] = tuple(files[:n])
        self.ids = [f.relative_to(self.folder).as_posix() for f in self.files]
        self.labels = np.array(labels[:n]) if labels is not None else None
        self._fingerprint: str | None = None

    def _read(self, files: Sequence[Path]) -> Any:
        raise NotImplementedError

    def _variant(self) -> bytes:
        """How the files are read, when that changes the inputs; b"" for the default."""
        return b""

    def batch(self, start: int, stop: int) -> Any:
        """Inputs of samples [start, stop), read from their files now."""
        return self._read(self.files[start:stop])

    def take(self, indices: Sequence[int]) -> Any:
        """Inputs of the samples at `indices` (any order), read from their files now."""
        return self._read([self.files[int(i)] for i in indices])

    def fingerprint(self) -> str:
        """SHA-256 of each file's bytes, relative path and label (computed once, streamed)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(f"{self.kind}\0{self.labels is not None}\0".encode())
            labels = self.labels.tolist() if self.labels is not None else [""] * len(self)
            digest.update(self._variant())
            for path, sample_id, label in zip(self.files, self.ids, labels, strict=True):
                digest.update(f"{sample_id}\0{label}\0".encode())
                size = 0
                with path.open("rb") as handle:
                    while chunk := handle.read(_CHUNK_BYTES):
                        digest.update(chunk)
                        size += len(chunk)
                digest.update(f"\0{size}\0".encode())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint
