"""A table of every signal needs every signal: on the ESH4 hour, a pipeline keeping only the
latest few refuses to write the signals table (never a partial one), one keeping every signal
writes them all, and the summary's counts do not depend on the bound."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orderflow.core.errors import ArgumentError
from orderflow.engine.export import write_tables
from orderflow.engine.pipeline import PipelineParams
from orderflow.engine.runner import run_stream, summarize
from orderflow.io.dbn import read_mbo
from tests.conftest import ES_MBO


def test_the_signals_table_is_whole_or_refused(tmp_path: Path) -> None:
    ev, inst = read_mbo(ES_MBO)
    few = run_stream("mbo", ev, inst, PipelineParams(signals_kept=8))
    every = run_stream("mbo", ev, inst, PipelineParams(signals_kept=None))
    assert len(few.signals) == len(every.signals) == 209
    assert summarize(few)["signals"] == summarize(every)["signals"]
    with pytest.raises(ArgumentError, match="needs every signal"):
        write_tables(few, tmp_path / "few")
    assert not (tmp_path / "few" / "signals.csv").exists()
    write_tables(every, tmp_path / "every")
    with open(tmp_path / "every" / "signals.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 209
    assert [int(r["ts_event_ns"]) for r in rows] == [s.ts_event for s in every.signals]
    assert [int(r["ts_event_ns"]) for r in rows[-8:]] == [s.ts_event for s in few.signals.latest(8)]
