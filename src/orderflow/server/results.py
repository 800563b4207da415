"""A backtest's result folder as the dashboard reads it (``orderflow view RESULT_DIR``): its
statistics (stats.json), its trades (trades.csv, numbers as numbers), its equity curve
(equity.csv as ``[ts_ns, equity, drawdown]``) and, when stats.json names the data file and it
is still there, that file's footprint bars (the pipeline's first bar series), computed once."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path
from typing import Any

from orderflow.core.errors import NotFoundError, RequestError

__all__ = ["MAX_BARS", "ResultFolders"]

#: bars a result carries at most (the latest)
MAX_BARS = 5000


def _number(text: str) -> Any:
    """A CSV cell as an int or a float when it is one, else the text ('' -> None)."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


class ResultFolders:
    """The result folders a server shows, by name (the folder's name)."""

    def __init__(self, folders: list[Path]) -> None:
        self.by_name: dict[str, Path] = {}
        for f in folders:
            if not (f / "stats.json").is_file():
                raise RequestError(f"{f}: not a backtest result folder (no stats.json)",
                                   field="result")  # fmt: skip
            self.by_name[f.name] = f
        self._bars: dict[str, list[dict[str, Any]] | None] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self.by_name)

    def folder(self, name: str) -> Path:
        f = self.by_name.get(name)
        if f is None:
            raise NotFoundError(f"result: no result named {name!r}", field="result")
        return f

    def read(self, name: str) -> dict[str, Any]:
        """``{"stats", "signals", "files", "trades", "equity", "bars"}`` of result ``name``."""
        f = self.folder(name)
        doc = json.loads((f / "stats.json").read_text(encoding="utf-8"))
        equity = [[r.get("ts_ns"), r.get("equity"), r.get("drawdown")]
                  for r in _rows(f / "equity.csv")]  # fmt: skip
        return {"name": name, "stats": doc.get("stats", {}), "signals": doc.get("signals"),
                "files": doc.get("files", []), "trades": _rows(f / "trades.csv"),
                "equity": equity, "bars": self.bars(name, doc.get("files") or [])}  # fmt: skip

    def bars(self, name: str, files: list[Any]) -> list[dict[str, Any]] | None:
        """BARs of the result's first data file (None: none named, or it is gone)."""
        with self._lock:
            if name not in self._bars:
                self._bars[name] = _bars_of(files)
            return self._bars[name]


def _bars_of(files: list[Any]) -> list[dict[str, Any]] | None:
    from orderflow.engine.pipeline import Pipeline
    from orderflow.engine.runner import run_file
    from orderflow.server.hub import InstrumentState
    from orderflow.server.view_frames import closed_bar, forming_bar

    path = Path(files[0]["path"]) if files and isinstance(files[0], dict) else None
    if path is None or not path.is_file():
        return None
    pipe, _ = run_file(path)
    if not isinstance(pipe, Pipeline):
        return None
    st = InstrumentState(pipe.instrument, pipe)
    n = len(pipe.bars.series[0])
    out = [closed_bar(st, i) for i in range(max(0, n - MAX_BARS), n)]
    f = forming_bar(st)
    return out + ([f] if f is not None else [])
