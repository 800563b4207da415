"""DBN reader: every schema against databento_dbn's own decoded records, on the real files."""

from __future__ import annotations

from pathlib import Path

import databento_dbn as dd
import numpy as np
import pytest
import zstandard

from orderflow.core.errors import DecodeError
from orderflow.io.dbn import (
    RAW_MBP1,
    iter_mbo_chunks,
    mbp10_to_levels,
    normalise_quotes,
    open_dbn,
    raw_records,
    read_dbn,
    read_definitions,
    read_mbo,
)
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import Action, Flags, Side
from tests.conftest import DATA_DIR, ES_MBO, ES_MBO_SNAPSHOT, ESH1_DIR, need

DBN_DIR = DATA_DIR / "databento"
ALL_FILES = sorted(DBN_DIR.rglob("*.dbn.zst")) if DBN_DIR.exists() else []
TICK = 250_000_000
ESM4_NQM4 = DBN_DIR / "es_nq_bbo_ohlcv" / "2024-05-09_ESM4_NQM4"

#: README table: records per file.
README_COUNTS = {
    "esh4-glbx-mdp3-20231224.mbo.dbn.zst": 8_725,
    "esh4-glbx-mdp3-20231225.mbo.dbn.zst": 68_792,
    "futures_bbo-1m_2024-05-09T09-55_2024-05-09T10-05.dbn.zst": 20,
    "futures_ohlcv-1m_2024-05-09T09-55_2024-05-09T10-05.dbn.zst": 20,
    "futures_settlement_bbo-1m_2025-12-19T14-25-00_2025-12-19T14-35-00.dbn.zst": 20,
    "futures_ohlcv-1m_2026-01-09T20-55_2026-01-09T21-05.dbn.zst": 10,
    "definition-glbx-es-fut.dbn.zst": 2,
    "definition-glbx-es-futspread.dbn.zst": 2,
}


def decoded(path: Path) -> list:
    data = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    decoder = dd.DBNDecoder()
    decoder.write(data)
    return decoder.decode()[1:]


def _value(obj, name: str, char: bool):
    """A decoder attribute in the raw array's representation (``char``: a one-byte field)."""
    v = getattr(obj, name)
    if name in ("is_trading", "is_quoting", "is_short_sell_restricted"):
        return {True: b"Y", False: b"N", None: b"~"}[v]
    if char:
        return str(v.value).encode()
    return int(v.value) if hasattr(v, "value") else int(v)


def _ids(path: Path) -> str:
    return path.name


@pytest.mark.parametrize("path", [p for p in ALL_FILES if "definition" not in p.name], ids=_ids)
def test_raw_records_equal_the_decoders_records_field_by_field(path):
    raw = raw_records(open_dbn(path))
    records = decoded(path)
    assert len(raw) == len(records)
    names = [n for n in raw.dtype.names if not n.startswith("_") and n != "length"]
    for row, rec in zip(raw, records, strict=True):
        for name in names:
            if name == "levels":
                for i, level in enumerate(rec.levels):
                    for key in ("bid_px", "ask_px", "bid_sz", "ask_sz", "bid_ct", "ask_ct"):
                        assert int(row["levels"][i][key]) == getattr(level, key), (path, key)
                continue
            char = raw.dtype[name].kind == "S"
            got = bytes(row[name]) if char else int(row[name])
            assert got == _value(rec, name, char), (path.name, name)


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_record_counts_match_the_readme(name):
    path = need(next(p for p in ALL_FILES if p.name == name))
    assert len(read_dbn(path)) == README_COUNTS[name]


def test_esh1_fixtures_hold_four_records_each_and_one_for_daily_and_definition():
    for path in sorted(need(ESH1_DIR).glob("*.dbn.zst")):
        data = read_dbn(path)
        expected = 1 if data.schema in ("ohlcv-1d", "definition") else 4
        assert len(data) == expected, path.name
        assert data.version == 3
        assert data.instrument.contract == "ESH1"
        assert set(data.instruments) == {5482}


def test_esh4_mbo_action_counts_and_snapshot():
    mbo, inst = read_mbo(need(ES_MBO))
    assert inst.symbol == "ES" and inst.tick_size == "0.25"
    counts = {a: int((mbo["action"] == a).sum()) for a in Action}
    assert counts[Action.ADD] == 29_216
    assert counts[Action.CANCEL] == 17_999
    assert counts[Action.MODIFY] == 12_233
    assert counts[Action.TRADE] == 2_973
    assert counts[Action.FILL] == 6_371
    snap = (mbo["flags"] & Flags.SNAPSHOT) != 0
    assert snap[:8_725].all() and not snap[8_725:].any()
    trades = mbo[mbo["action"] == Action.TRADE]
    assert int(trades["size"].sum()) == 9_892
    data = read_dbn(ES_MBO)
    assert data.version == 1 and data.schema == "mbo"
    assert np.array_equal(data.data, mbo)
    assert (data.instrument_id == 17077).all()


def test_mbo_snapshot_file_is_the_head_of_the_next_day():
    head, _ = read_mbo(need(ES_MBO_SNAPSHOT))
    full, _ = read_mbo(ES_MBO)
    for key in ("order_id", "price", "size", "sequence", "action", "side", "ts_event"):
        assert np.array_equal(head[key], full[key][: len(head)])


def test_mbo_prices_are_ticks_of_the_decoded_prices():
    path = need(ESH1_DIR / "test_data.mbo.dbn.zst")
    data = read_dbn(path)
    for row, rec in zip(data.data, decoded(path), strict=True):
        assert row["price"] * TICK == rec.price
        assert row["order_id"] == rec.order_id
        assert row["side"] == {"B": Side.BID, "A": Side.ASK, "N": Side.NONE}[rec.side.value]


def test_streaming_chunks_equal_the_whole_file_read():
    whole, _ = read_mbo(need(ES_MBO))
    chunks = list(iter_mbo_chunks(ES_MBO, chunk_records=10_000))
    assert [len(c) for c in chunks] == [10_000] * 6 + [8_792]
    assert np.array_equal(np.concatenate(chunks), whole)
    assert sum(len(c) for c in iter_mbo_chunks(ES_MBO, chunk_records=68_792)) == 68_792


def test_trades_and_tbbo_keep_the_aggressor_side():
    for schema in ("trades", "tbbo"):
        path = need(ESH1_DIR / f"test_data.{schema}.dbn.zst")
        data = read_dbn(path)
        recs = decoded(path)
        want = [{"B": Side.BID, "A": Side.ASK, "N": Side.NONE}[r.side.value] for r in recs]
        assert data.data["side"].tolist() == want
        assert (data.data["price"] * TICK).tolist() == [r.price for r in recs]
        assert data.data["size"].tolist() == [r.size for r in recs]
    quotes = read_dbn(ESH1_DIR / "test_data.tbbo.dbn.zst").extra["quotes"]
    assert quotes["bid_price"][0] * TICK == recs[0].bid_px_00
    assert quotes["ask_size"][0] == recs[0].ask_sz_00


@pytest.mark.parametrize("schema", ["mbp-1", "bbo-1s", "bbo-1m"])
def test_quote_schemas_normalise_to_quotes(schema):
    path = need(ESH1_DIR / f"test_data.{schema}.dbn.zst")
    data = read_dbn(path)
    for q, r in zip(data.data, decoded(path), strict=True):
        assert q["bid_price"] * TICK == r.bid_px_00 and q["ask_price"] * TICK == r.ask_px_00
        assert (q["bid_size"], q["ask_size"]) == (r.bid_sz_00, r.ask_sz_00)
        assert (q["bid_count"], q["ask_count"]) == (r.bid_ct_00, r.ask_ct_00)
        assert (q["ts_event"], q["sequence"]) == (r.ts_event, r.sequence)
    assert len(data.extra["events"]) == len(data.data)


def test_undefined_prices_become_no_price():
    raw = raw_records(open_dbn(need(ESH1_DIR / "test_data.mbp-1.dbn.zst"))).copy()
    raw["levels"]["bid_px"][:, 0] = np.iinfo(np.int64).max
    quotes = normalise_quotes(raw.astype(RAW_MBP1), TICK)
    assert (quotes["bid_price"] == NO_PRICE).all()
    assert (quotes["ask_price"] != NO_PRICE).all()


def test_off_grid_price_is_a_decode_error():
    raw = raw_records(open_dbn(need(ESH1_DIR / "test_data.mbp-1.dbn.zst"))).copy()
    raw["levels"]["ask_px"][2, 0] += 1
    with pytest.raises(DecodeError, match="record 2") as info:
        normalise_quotes(raw, TICK)
    assert info.value.details["field"] == "ask_px_00"


def test_mbp10_levels_are_ten_deep_in_ticks():
    path = need(ESH1_DIR / "test_data.mbp-10.dbn.zst")
    mbp = read_dbn(path).data
    recs = decoded(path)
    assert mbp.bid_price.shape == (4, 10)
    for r, rec in enumerate(recs):
        for i, lv in enumerate(rec.levels):
            assert mbp.bid_price[r, i] * TICK == lv.bid_px
            assert mbp.ask_price[r, i] * TICK == lv.ask_px
            assert (mbp.bid_size[r, i], mbp.ask_count[r, i]) == (lv.bid_sz, lv.ask_ct)
    assert mbp.top["bid_price"].tolist() == mbp.bid_price[:, 0].tolist()
    assert mbp.events["action"][0] == Action.ADD
    levels = mbp10_to_levels(mbp)
    assert len(levels) == 20 + 3  # the full first book, then one size change per record
    assert ((levels["flags"] & Flags.LAST) != 0).sum() == 4


def test_bars_in_ticks_and_multi_instrument_ids():
    path = need(next(ESM4_NQM4.glob("futures_ohlcv-1m_*")))
    data = read_dbn(path)
    assert {i: inst.contract for i, inst in data.instruments.items()} == {
        5602: "ESM4",
        13743: "NQM4",
    }
    recs = decoded(path)
    assert data.instrument_id.tolist() == [r.instrument_id for r in recs]
    for bar, rec in zip(data.data, recs, strict=True):
        assert bar["ts_event"] == rec.ts_event
        assert [bar[k] * TICK for k in ("open", "high", "low", "close")] == [
            rec.open,
            rec.high,
            rec.low,
            rec.close,
        ]
        assert bar["volume"] == rec.volume
    assert data.instruments[13743].symbol == "NQ"


def test_definitions_give_instruments_with_exact_specs():
    es = read_definitions(need(DBN_DIR / "definitions" / "definition-glbx-es-fut.dbn.zst"))
    assert {(i.contract, i.tick_size, i.point_value) for i in es} == {("ESM3", "0.25", "50")}
    spreads = read_definitions(DBN_DIR / "definitions" / "definition-glbx-es-futspread.dbn.zst")
    assert sorted(i.contract for i in spreads) == ["ESH5-ESM5", "ESM4-ESU4"]
    both = read_dbn(ESM4_NQM4 / "futures_definition.dbn.zst")
    assert both.schema == "definition" and len(both.records) == 2
    assert {i.contract for i in both.data} == {"ESM4", "NQM4"}
    bbo = read_dbn(next(ESM4_NQM4.glob("futures_bbo-1m_*")), definitions=both.data)
    assert bbo.instruments[5602].tick_size == "0.25"


def test_statistics_and_status_keep_their_fields():
    path = need(ESH1_DIR / "test_data.statistics.dbn.zst")
    stats = read_dbn(path).data
    recs = decoded(path)
    assert stats["stat_type"].tolist() == [int(r.stat_type.value) for r in recs]
    assert stats["price_fixed"].tolist() == [r.price for r in recs]
    assert (stats["price"] * TICK).tolist() == [r.price for r in recs]
    assert stats["quantity"].tolist() == [r.quantity for r in recs]
    path = need(ESH1_DIR / "test_data.status.dbn.zst")
    status = read_dbn(path).data
    recs = decoded(path)
    assert status["action"].tolist() == [int(r.action.value) for r in recs]
    assert status["is_trading"].tolist() == [
        {True: 1, False: 0, None: -1}[r.is_trading] for r in recs
    ]


def test_not_a_dbn_file_and_wrong_schema_are_decode_errors(tmp_path):
    bad = tmp_path / "x.dbn"
    bad.write_bytes(b"hello world, not dbn")
    with pytest.raises(DecodeError, match="not a DBN file"):
        read_dbn(bad)
    with pytest.raises(DecodeError, match="not mbo"):
        read_mbo(need(ESH1_DIR / "test_data.trades.dbn.zst"))
    with pytest.raises(DecodeError, match="not mbo"):
        list(iter_mbo_chunks(ESH1_DIR / "test_data.trades.dbn.zst"))
