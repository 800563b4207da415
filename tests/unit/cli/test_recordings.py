"""The server's recordings into the Parquet store: the events the Hub would have applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orderflow.analytics.trades import AggressorClassifier
from orderflow.cli.recordings import convert_recordings, is_recording, open_recording
from orderflow.core.errors import ArgumentError
from orderflow.io.parquet_store import read_chunks
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Flags, NtOperation, Side
from orderflow.protocol import Batch, Depth, DepthColumns, Tick, packed
from orderflow.server.recording import Recorder

T0 = 1_703_545_200_000_000_000  # 2023-12-25 23:00 UTC: trading day 2023-12-26


@pytest.mark.parametrize("form", ["columns", "packed"])
def test_a_recording_becomes_depth_and_prints_in_the_store(tmp_path: Path, form: str) -> None:
    rec = Recorder(tmp_path / "rec")
    rec.append(Batch("ES 03-24", 1, snapshot=True, depth=[
        Depth(T0, "bid", "add", 0, 4810.0, 5), Depth(T0, "ask", "add", 0, 4810.25, 7)]),
        "nt", T0 + 10)  # fmt: skip
    second = Batch("ES 03-24", 2, columns=DepthColumns(
        t=[T0 + 100, T0 + 101], side="ba", op="ur", pos=[0, 0], price=[4810.0, 4810.25],
        size=[3, 0], reset=[]),
        ticks=[Tick(T0 + 100, 4810.0, 2, bid=4810.0, ask=4810.25)])  # fmt: skip
    rec.append(packed(second) if form == "packed" else second, "nt", T0 + 200)
    rec.append(Batch("ES 03-24", 3, depth=[Depth(T0 + 300, "ask", "add", 0, 4810.5, 4, reset=True)],
                     ticks=[Tick(T0 + 300, 4810.5, 1)]), "nt", T0 + 400)  # fmt: skip
    rec.close()
    assert is_recording(tmp_path / "rec")
    [summary] = convert_recordings(tmp_path / "rec", tmp_path / "store")
    assert summary["rows"] == 5 and summary["trades"] == 2 and summary["days"] == ["2023-12-26"]
    inst, kind, chunks = read_chunks(tmp_path / "store")
    assert (inst.contract, kind) == ("ESH4", "nt_depth")
    [c] = list(chunks)
    d, t = c.records, c.trades
    assert t is not None
    assert d["price"].tolist() == [19240, 19241, 19240, 19241, 19242]
    assert d["operation"].tolist() == [NtOperation.ADD, NtOperation.ADD, NtOperation.UPDATE,
                                       NtOperation.REMOVE, NtOperation.ADD]  # fmt: skip
    assert d["side"].tolist() == [Side.BID, Side.ASK, Side.BID, Side.ASK, Side.ASK]
    assert d["ts_recv"].tolist() == [T0 + 10, T0 + 10, T0 + 200, T0 + 200, T0 + 400]
    assert d["sequence"].tolist() == [1, 1, 2, 2, 3]
    last, reset = int(Flags.LAST), int(Flags.RESET)
    assert d["flags"].tolist() == [0, 0, 0, last, reset | last]  # a snapshot has no LAST
    # a sell at the bid (bid/ask rule); a print without a quote as the Hub's classifier says
    cl = AggressorClassifier("bidask")
    hub = [int(cl.classify(np.array([p]), np.array([b]), np.array([a]))[0])
           for p, b, a in ((19240, 19240, 19241), (19242, NO_PRICE, NO_PRICE))]  # fmt: skip
    assert t["side"].tolist() == hub and hub[0] == Side.ASK and t["size"].tolist() == [2, 1]
    assert np.array_equal(t["price"], [19240, 19242])


def test_opening_a_folder_of_two_instruments_is_refused_as_the_callers_choice(
    tmp_path: Path,
) -> None:
    rec = Recorder(tmp_path / "rec")
    for name in ("ES 03-24", "NQ 03-24"):
        rec.append(Batch(name, 1, snapshot=True, depth=[Depth(T0, "bid", "add", 0, 4810.0, 5)]),
                   "nt", T0 + 10)  # fmt: skip
    rec.close()
    with pytest.raises(ArgumentError, match="recordings of 2 instruments; open one folder"):
        open_recording(tmp_path / "rec", 1000, None)
    # one instrument's folder of the two opens
    assert open_recording(tmp_path / "rec" / "ES_03-24", 1000, None).instrument.contract == "ESH4"
