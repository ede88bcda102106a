"""Writing the files a user asks for (reports, exports, figures) whole or not at all.

A report written in place and interrupted (a full disk, a killed process) left a truncated or
0-byte file over the previous one. `write_file` writes a temporary file in the target's folder
and renames it over the target (`os.replace`, atomic on one filesystem), so the target holds
either the old content or the new, and a failure is a one-paragraph error naming the file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from wince.errors import WinceError

Content = str | bytes | Callable[[Path], object]
"""Text (written as UTF-8), bytes, or a function that writes the file at the path it is given."""


def write_file(target: Path, content: Content, *, what: str) -> int:
    """Write `content` to `target` atomically; returns the file's size in bytes.

    Missing parent folders are made. A target that exists but is not a regular file (a
    device such as /dev/null, a named pipe) is written in place: it cannot be replaced.

    Args:
        target: the file to write.
        content: text, bytes, or a function writing the file at a given path.
        what: what the file is, for messages ("--out", "the report").

    Raises:
        WinceError: the target is a folder, or cannot be written (with the system's reason).
    """
    if target.is_dir():
        raise WinceError(f"{what}: {target} is a folder; give the path of a file to write.")
    in_place = target.exists() and not target.is_file()
    temporary = target if in_place else target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            temporary.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            temporary.write_bytes(content)
        else:
            content(temporary)
        if not in_place:
            os.replace(temporary, target)
        return target.stat().st_size
    except OSError as error:
        reason = error.strerror or str(error)
        blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            reason = f"{blocking} is a file, not a folder"
        raise WinceError(
            f"{what}: cannot write {target} ({reason}); a file already there "
            "is left as it was. Check that its folder exists and is writable and that the disk "
            "has space."
        ) from None
    finally:
        if not in_place:
            # not there when its folder is a file (an --out under plan.yaml/): ENOTDIR
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                temporary.unlink()
