"""Small files the product keeps beside numba's cache: where that cache is, and a write that a
reader never sees half done."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["numba_cache_dir", "replace_atomically"]


def numba_cache_dir(source_dir: Path) -> Path:
    """Where numba keeps the cache of the kernels defined in ``source_dir``:
    ``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` in that folder."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    return Path(user) if user else source_dir / "__pycache__"


def replace_atomically(path: Path, data: bytes) -> bool:
    """``data`` written to a file of this process's own beside ``path``, then renamed over it
    (its folder made when missing): a reader sees the old file or the new one, never a torn
    one. False when it could not be written (the temporary file removed, ``path`` as it was)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True
