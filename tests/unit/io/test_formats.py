"""Format detection by content and the one loader, on every real file and on NT text."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.core.errors import ConfigError, DecodeError
from orderflow.io.formats import detect_format, load_stream
from orderflow.model.dtypes import (
    BAR_DTYPE,
    LEVEL_DTYPE,
    MBO_DTYPE,
    NT_DEPTH_DTYPE,
    QUOTE_DTYPE,
    TRADE_DTYPE,
)
from orderflow.model.instruments import get_instrument
from tests.conftest import CME_BARS, DATA_DIR, ES_MBO, ESH1_DIR, LOBSTER_BOOK, LOBSTER_MSG, need

ES = get_instrument("ES")

SCHEMA_KIND = {
    "mbo": ("mbo", MBO_DTYPE),
    "trades": ("trades", TRADE_DTYPE),
    "tbbo": ("trades", TRADE_DTYPE),
    "mbp-1": ("quotes", QUOTE_DTYPE),
    "bbo-1s": ("quotes", QUOTE_DTYPE),
    "bbo-1m": ("quotes", QUOTE_DTYPE),
    "mbp-10": ("levels", LEVEL_DTYPE),
    "ohlcv-1s": ("bars", BAR_DTYPE),
    "ohlcv-1m": ("bars", BAR_DTYPE),
    "ohlcv-1h": ("bars", BAR_DTYPE),
    "ohlcv-1d": ("bars", BAR_DTYPE),
}


def test_every_databento_file_is_detected_with_its_schema():
    files = sorted(need(DATA_DIR / "databento").rglob("*.dbn.zst"))
    assert len(files) == 25
    for path in files:
        fmt = detect_format(path)
        assert fmt.startswith("dbn:")
        schema = fmt[4:]
        assert schema in path.name or (schema == "definition" and "definition" in path.name)


@pytest.mark.parametrize("schema", sorted(SCHEMA_KIND))
def test_dbn_streams_load_as_their_kind(schema):
    stream = load_stream(need(ESH1_DIR / f"test_data.{schema}.dbn.zst"))
    kind, dtype = SCHEMA_KIND[schema]
    assert stream.kind == kind and stream.array.dtype == dtype
    assert stream.source_format == f"dbn:{schema}"
    assert stream.instrument.contract == "ESH1"


def test_definition_file_is_not_a_stream():
    with pytest.raises(DecodeError, match="not a stream"):
        load_stream(need(ESH1_DIR / "test_data.definition.dbn.zst"))


def test_es_mbo_loads_whole():
    stream = load_stream(need(ES_MBO))
    assert stream.kind == "mbo" and len(stream.array) == 68_792


def test_cme_and_lobster_files_are_detected():
    assert detect_format(need(CME_BARS)) == "cme_bars"
    assert detect_format(need(LOBSTER_MSG)) == "lobster_messages"
    assert detect_format(need(LOBSTER_BOOK)) == "lobster_orderbook"
    bars = load_stream(CME_BARS)
    assert bars.kind == "bars" and len(bars.array) == 29_996
    with pytest.raises(DecodeError, match="message file"):
        load_stream(LOBSTER_BOOK)


def test_lobster_messages_load_as_mbo():
    pytest.importorskip("orderflow.io.lobster")
    stream = load_stream(need(LOBSTER_MSG))
    assert stream.kind == "mbo" and stream.array.dtype == MBO_DTYPE
    assert stream.instrument.symbol == "GOOG" and stream.instrument.tick_size == "0.005"
    assert len(stream.array) >= 49_482


NT_SAMPLES = {
    "nt_dump": (
        "L1;0;20210120050050;2300000;4800,25;2\nL2;0;20210120050000;70000;0;0;;4800.5;1\n",
        "nt_depth",
        NT_DEPTH_DTYPE,
    ),
    "nt_ticks": (
        "20240102 143000 1000000;4800.25;3\n20240102 143001 0000000;4800.50;1\n",
        "trades",
        TRADE_DTYPE,
    ),
    "nt_tick_replay": (
        "20240102 143000 1000000;4800.25;4800.00;4800.25;3\n",
        "trades",
        TRADE_DTYPE,
    ),
    "nt_minute_bars": ("20240102 143100;4800.00;4801.25;4799.75;4801.00;1234\n", "bars", BAR_DTYPE),
    "nt_daily_bars": ("20240102;4800.00;4801.25;4799.75;4801.00;1234\n", "bars", BAR_DTYPE),
}


@pytest.mark.parametrize("fmt", sorted(NT_SAMPLES))
def test_ninjatrader_text_is_detected_and_loaded(tmp_path, fmt):
    text, kind, dtype = NT_SAMPLES[fmt]
    path = tmp_path / "ES 03-24.Last.txt"
    path.write_text(text)
    assert detect_format(path) == fmt
    stream = load_stream(path)
    assert stream.kind == kind and stream.array.dtype == dtype and len(stream.array) >= 1
    assert stream.instrument.contract == "ESH4"
    other = tmp_path / "export.txt"
    other.write_text(text)
    with pytest.raises(ConfigError, match="instrument"):
        load_stream(other)
    assert np.array_equal(load_stream(other, ES).array, stream.array)


def test_unknown_and_empty_files_are_decode_errors(tmp_path):
    readme = need(DATA_DIR / "databento" / "README.md")
    with pytest.raises(DecodeError, match="unknown format"):
        detect_format(readme)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DecodeError, match="empty"):
        detect_format(empty)
    garbage = tmp_path / "x.bin"
    garbage.write_bytes(b"\x28\xb5\x2f\xfdnot really zstd")
    with pytest.raises(DecodeError):
        detect_format(garbage)
