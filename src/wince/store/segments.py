"""Outcome segments: Parquet files on a local folder or any fsspec location.

A location is given as a folder path or an fsspec URL (`file:///shared/wince`, `memory://x`
for tests; `s3://…`, `gs://…`, `abfs://…` through their fsspec packages, which wince does not
install). Segment names are relative to the location (`<run_id>/<start>-<stop>.parquet`), so
the catalog stays valid wherever the location is mounted.

Writes are atomic: a segment is written under a hidden temporary name in its final folder and
then renamed (`os.replace` on local disks, the filesystem's `mv` elsewhere; on object stores a
single object appears whole or not at all). A crashed writer leaves at most a hidden `.tmp`
file that no reader lists, and the catalog registers a segment only after the rename.

Integrity: `write` returns the SHA-256 of the bytes it wrote, which the catalog keeps with the
unit's sample range and row count; `footer` and `checksum` let the store check a segment
against them (`Store.damaged_units`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from wince.errors import StoreError

# zstd at pyarrow's default level: ~5x smaller than SQLite rows, ~14 ms per 20k-row unit here.
COMPRESSION = "zstd"
CHUNK_BYTES = 1 << 20


class SegmentLocation:
    """Where a store's outcome segments live, and how to write and list them.

    Args:
        location: a folder path or an fsspec URL.

    Raises:
        StoreError: the URL's protocol has no fsspec implementation installed.

    Examples:
        >>> location = SegmentLocation("memory://doc/segments")
        >>> location.url
        'memory://doc/segments'
        >>> location.is_local
        False
    """

    def __init__(self, location: str | Path) -> None:
        text = str(location)
        try:
            fs, root = fsspec.core.url_to_fs(text)
        except (ImportError, ValueError) as error:
            raise StoreError(
                f"cannot open the segments location {text!r}: {error}. Install the fsspec "
                "package of its protocol (e.g. s3fs for s3://, gcsfs for gs://) or give a folder."
            ) from None
        self.fs: fsspec.AbstractFileSystem = fs
        self.protocol = _protocol(fs)
        self.is_local = self.protocol in ("file", "local")
        self.root = str(Path(root).resolve()) if self.is_local else root.rstrip("/")
        self.url = self.root if self.is_local else f"{self.protocol}://{self.root.lstrip('/')}"
        self._folders: set[str] = set()

    def __repr__(self) -> str:
        return f"SegmentLocation({self.url!r})"

    def path(self, name: str) -> str:
        """Full path (local) or URL (elsewhere) of the segment named `name`."""
        if self.is_local:
            return os.path.join(self.root, name)
        return f"{self.url}/{name}"

    def _fs_path(self, name: str) -> str:
        return os.path.join(self.root, name) if self.is_local else f"{self.root}/{name}"

    def write(self, name: str, table: pa.Table) -> tuple[int, str]:
        """Write `table` as the segment `name`, atomically.

        The file is encoded in memory first, so its bytes are hashed once, as written.

        Returns:
            Its size in bytes and the SHA-256 (hex) of its bytes (see `checksum`).

        Raises:
            StoreError: the location cannot be written.
        """
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=COMPRESSION)
        content = sink.getvalue()
        digest = hashlib.sha256(content).hexdigest()
        folder, _, base = self._fs_path(name).rpartition("/")
        temporary = f"{folder}/.{base}.{uuid.uuid4().hex}.tmp"
        final = f"{folder}/{base}"
        try:
            if folder not in self._folders:
                self.fs.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            with self.fs.open(temporary, "wb") as handle:
                handle.write(content)
            if self.is_local:
                os.replace(temporary, final)
            else:
                self.fs.mv(temporary, final)
            return content.size, digest
        except OSError as error:
            self._discard(temporary)
            reason = error.strerror or str(error)
            raise StoreError(
                f"cannot write outcomes to {self.url}/{name}: {reason}. Check that the segments "
                "location exists and is writable."
            ) from None

    def _discard(self, temporary: str) -> None:
        try:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
        except OSError:
            pass  # best effort: a hidden .tmp file is never read

    def read(self, name: str) -> pa.Table:
        """The segment `name` as an Arrow table."""
        with self.fs.open(self._fs_path(name), "rb") as handle:
            return pq.read_table(handle)

    def footer(self, name: str) -> pq.FileMetaData:
        """The Parquet footer (row count, row groups, column statistics) of the segment `name`.

        Reads only the end of the file.

        Raises:
            OSError: the file cannot be read.
            pyarrow.ArrowException: the file is not Parquet (truncated, emptied, damaged).
        """
        with self.fs.open(self._fs_path(name), "rb") as handle:
            return pq.read_metadata(handle)

    def checksum(self, name: str) -> str:
        """The SHA-256 (hex) of the segment `name`'s bytes, read in 1 MiB chunks.

        Raises:
            OSError: the file cannot be read.
        """
        digest = hashlib.sha256()
        with self.fs.open(self._fs_path(name), "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest()

    def register(self, conn: Any) -> None:
        """Make this location readable by a DuckDB connection (non-local protocols only)."""
        if not self.is_local:
            conn.register_filesystem(self.fs)


def _protocol(fs: fsspec.AbstractFileSystem) -> str:
    protocol = fs.protocol
    return str(protocol[0] if isinstance(protocol, tuple | list) else protocol)
