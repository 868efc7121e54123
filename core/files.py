"""Writing files so that a reader never sees half of one.

A record (a comparison, a checkpoint's stage tag, the `latest` pointer) is written to a
temporary file beside its target, flushed to disk and moved over the target with
`os.replace`, which is atomic on one file system: after a crash or a full disk the target is
either the old complete file or the new complete one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (temporary file + fsync + os.replace); return `path`.

    The temporary file sits in the target's folder (same file system, so the rename is
    atomic) and is removed when writing fails; the OSError (disk full included) is re-raised.
    """
    path = Path(path)
    # A name of its own (not NAME.tmp): two writers of one file never share a temporary file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding=encoding) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
