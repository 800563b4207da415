"""Readers and writers at the edge: every source is normalised into the dtypes of ``model``.

* :func:`read_mbo`, :func:`read_dbn`, :func:`iter_mbo_chunks` — Databento DBN files.
* :func:`load_stream` — any supported file, its format told by the file itself.
* :func:`replay_file` — a file into the book its data calls for.
"""

# The names load on first use (PEP 562), so importing one submodule costs no more than before.
from __future__ import annotations

from typing import TYPE_CHECKING

from orderflow.core.exports import lazy_exports

if TYPE_CHECKING:
    from orderflow.io.dbn import iter_mbo_chunks, read_dbn, read_mbo
    from orderflow.io.formats import LoadedStream, detect_format, load_stream
    from orderflow.io.replay import ReplaySummary, replay_file

_EXPORTS = {
    "LoadedStream": "orderflow.io.formats",
    "ReplaySummary": "orderflow.io.replay",
    "detect_format": "orderflow.io.formats",
    "iter_mbo_chunks": "orderflow.io.dbn",
    "load_stream": "orderflow.io.formats",
    "read_dbn": "orderflow.io.dbn",
    "read_mbo": "orderflow.io.dbn",
    "replay_file": "orderflow.io.replay",
}

__all__ = [
    "LoadedStream",
    "ReplaySummary",
    "detect_format",
    "iter_mbo_chunks",
    "load_stream",
    "read_dbn",
    "read_mbo",
    "replay_file",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
