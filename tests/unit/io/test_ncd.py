"""NinjaTrader database files (``orderflow.io.ncd``) on hand-built bytes: every flag of the tick,
minute and NT7 records, the zone option, and the faults (each one error naming the file and
the byte offset). The real files are proven in tests/golden/test_ninjatrader_ncd.py."""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from orderflow.core.errors import DecodeError
from orderflow.io import ncd
from orderflow.io.formats import detect_format, load_stream
from orderflow.io.stream import estimate_records, open_chunks
from orderflow.model.enums import Side
from orderflow.model.instruments import get_instrument

ES = get_instrument("ES")
#: 2024-01-02 10:00:00 as .NET ticks (100 ns since 0001-01-01)
T0 = (datetime(2024, 1, 2, 10, 0) - datetime(1, 1, 1)).days * 86_400 * 10_000_000 + 36_000 * (
    10_000_000
)
#: the same wall time in New York (EST, UTC-5) as ns UTC: 2024-01-02 15:00 UTC
T0_UTC_NS = 1_704_207_600 * 1_000_000_000
TICK_S = 10_000_000  # .NET ticks a second


def header(version: int = 1, inc: float = 0.25, first: float = 3000.0, t0: int = T0) -> bytes:
    return struct.pack("<Iddq", version, inc, first, t0)


def tick(tf: int, tb: bytes, pf: int, pb: bytes, sf: int, sb: bytes, vf: int, vb: bytes,
         d5: int = 0) -> bytes:  # fmt: skip
    """One NT8 tick record: flags ``ppsssttt`` / ``vvvddddd`` and the fields in order."""
    return bytes([(pf << 6) | (sf << 3) | tf, (vf << 5) | d5]) + tb + pb + sb + vb


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_tick_time_flags(tmp_path: Path) -> None:
    v1 = b"\x01"
    recs = [
        tick(0, b"", 0, b"", 0, b"", 1, v1),  # +0
        tick(1, b"\x07", 0, b"", 0, b"", 1, v1),  # +7 ticks
        tick(2, b"\x01\x00", 0, b"", 0, b"", 1, v1),  # +256
        tick(3, b"\x00\x01\x00\x00", 0, b"", 0, b"", 1, v1),  # +65536
        tick(4, (5).to_bytes(8, "big"), 0, b"", 0, b"", 1, v1),  # +5
        tick(5, b"\x02", 0, b"", 0, b"", 1, v1),  # +2 s
    ]
    got = ncd.read_ncd_ticks(write(tmp_path, "ES.ncd", header() + b"".join(recs)), tz="UTC")
    steps = np.cumsum([0, 7, 256, 65_536, 5, 2 * TICK_S]) * 100
    base = (T0 - 621_355_968_000_000_000) * 100
    assert np.array_equal(got.trades["ts_event"], base + steps)


def test_tick_price_flags_and_first_price(tmp_path: Path) -> None:
    v1 = b"\x01"
    recs = [
        tick(0, b"", 0, b"", 0, b"", 1, v1),  # 3000.00
        tick(0, b"", 1, b"", 0, b"", 1, v1, d5=16 + 3),  # +3
        tick(0, b"", 2, bytes([128 - 5]), 0, b"", 1, v1),  # -5
        tick(0, b"", 3, (2**31 + 1000).to_bytes(4, "big"), 0, b"", 1, v1),  # +1000
        tick(0, b"", 3, (2**31 - 2000).to_bytes(4, "big"), 0, b"", 1, v1),  # -2000
    ]
    got = ncd.read_ncd_ticks(write(tmp_path, "ES.ncd", header() + b"".join(recs)))
    assert got.trades["price"].tolist() == [12_000, 12_003, 11_998, 12_998, 10_998]


def test_tick_bid_ask_flags(tmp_path: Path) -> None:
    v1 = b"\x01"
    cases = [  # (spread flags, bytes, bid below, ask above)
        (0, b"", 0, 1),
        (1, b"", 1, 0),
        (2, b"", 0, 2),
        (3, b"", 2, 0),
        (4, b"", 0, 3),
        (5, b"", 3, 0),
        (6, b"\x23", 2, 3),
        (7, b"\x05\x06", 5, 6),
    ]
    recs = [tick(0, b"", 0, b"", sf, sb, 1, v1) for sf, sb, _, _ in cases]
    got = ncd.read_ncd_ticks(write(tmp_path, "ES.ncd", header() + b"".join(recs)))
    q = got.quotes
    assert (12_000 - q["bid_price"]).tolist() == [c[2] for c in cases]
    assert (q["ask_price"] - 12_000).tolist() == [c[3] for c in cases]
    assert np.all(q["bid_size"] == 0) and np.all(q["ask_size"] == 0)
    # the bid/ask rule on each tick's own quote: at the bid a seller (ASK), at the ask a buyer
    # (BID), in between (the last two) the previous print's side
    b, a = Side.BID, Side.ASK
    assert got.trades["side"].tolist() == [a, b, a, b, a, b, b, b]


def test_tick_volume_flags(tmp_path: Path) -> None:
    vols = [
        (1, b"\x07", 7),
        (2, b"\x03", 300),
        (3, b"\x02", 1_000),
        (4, b"\x04", 4_000),
        (5, b"\x01\x2c", 300),
        (6, (70_000).to_bytes(4, "big"), 70_000),
        (7, (2**40).to_bytes(8, "big"), 2**40),
    ]
    recs = [tick(0, b"", 0, b"", 0, b"", vf, vb) for vf, vb, _ in vols]
    got = ncd.read_ncd_ticks(write(tmp_path, "ES.ncd", header() + b"".join(recs)))
    assert got.trades["size"].tolist() == [v for _, _, v in vols]


def minute(tf: int, tb: bytes, of: int, ob: bytes, hf: int, hb: bytes, lf: int, lb: bytes,
           cf: int, cb: bytes, vf: int, vb: bytes) -> bytes:  # fmt: skip
    """One NT8 minute record: flags ``vvv_OOTT`` / ``LLHH__CC`` and the fields in order."""
    return (
        bytes([(vf << 5) | (of << 2) | tf, (lf << 6) | (hf << 4) | cf])
        + tb
        + ob
        + hb
        + lb
        + cb
        + vb
    )


def test_minute_records(tmp_path: Path) -> None:
    recs = [
        # +1 min, open 3000, high +2, low -1, close = low + 2, volume 9
        minute(0, b"", 0, b"", 1, b"\x02", 1, b"\x01", 1, b"\x02", 1, b"\x09"),
        # +3 min, open +4 (1 byte biased), flat, volume 0
        minute(1, b"\x03", 1, bytes([128 + 4]), 0, b"", 0, b"", 0, b"", 0, b""),
        # +2 min (2 bytes biased), open -300 (2 bytes biased), high +256, low -258 (2 bytes),
        # close low + 70000 (4 bytes), volume 2 x 500
        minute(
            2,
            (2**15 + 2).to_bytes(2, "big"),
            2,
            (2**15 - 300).to_bytes(2, "big"),
            2,
            (256).to_bytes(2, "big"),
            2,
            (258).to_bytes(2, "big"),
            3,
            (70_000).to_bytes(4, "big"),
            3,
            b"\x02",
        ),
        # +5 min (4 bytes biased), open +1 (4 bytes biased), high 4 bytes, low 4 bytes,
        # volume 8 bytes
        minute(
            3,
            (2**31 + 5).to_bytes(4, "big"),
            3,
            (2**31 + 1).to_bytes(4, "big"),
            3,
            (1).to_bytes(4, "big"),
            3,
            (1).to_bytes(4, "big"),
            0,
            b"",
            7,
            (123_456).to_bytes(8, "big"),
        ),
    ]
    got = ncd.read_ncd_minutes(
        write(tmp_path, "ESMinutes.ncd", header() + b"".join(recs)), tz="UTC"
    )
    b = got.bars
    base = (T0 - 621_355_968_000_000_000) * 100
    minutes = np.cumsum([1, 3, 2, 5]) - 1  # stamped at the close, ts_event is the open
    assert np.array_equal(b["ts_event"], base + minutes * 60_000_000_000)
    assert b["open"].tolist() == [12_000, 12_004, 11_704, 11_705]
    assert b["high"].tolist() == [12_002, 12_004, 11_960, 11_706]
    assert b["low"].tolist() == [11_999, 12_004, 11_446, 11_704]
    assert b["close"].tolist() == [12_001, 12_004, 81_446, 11_704]
    assert b["volume"].tolist() == [9, 0, 1_000, 123_456]


def ntd_file(count: int, records: bytes, inc: float = 0.01, first: float = 41.43) -> bytes:
    head = bytearray(64)
    struct.pack_into("<d", head, 0, -inc)
    struct.pack_into("<I", head, 12, count)
    struct.pack_into("<d", head, 16, first)
    struct.pack_into("<q", head, 48, T0)
    struct.pack_into("<Q", head, 56, 3)
    return bytes(head) + records


def test_ntd_records(tmp_path: Path) -> None:
    recs = [
        bytes([0b0001_0000, 0x02]),  # +0 s, same price, volume 1 byte
        bytes([0b0001_0101, 0x01, 128 + 2, 0x05]),  # +1 s, +2, volume 5
        bytes([0b0110_1010]) + (300).to_bytes(2, "big") + (2**15 - 7).to_bytes(2, "big")
        + (1_000).to_bytes(2, "big"),  # +300 s (2 bytes), -7 (2 bytes), volume 2 bytes
        bytes([0b0111_1111]) + (70_000).to_bytes(3, "big") + (2**31 + 9).to_bytes(4, "big")
        + (80_000).to_bytes(4, "big"),  # +70000 s (3 bytes), +9 (4 bytes), volume 4 bytes
        bytes([0b0010_0000]) + (2**33).to_bytes(8, "big"),  # volume 8 bytes
        bytes([0b0011_0000, 0x02]),  # 2 x 100
        bytes([0b0100_0000, 0x02]),  # 2 x 500
        bytes([0b0101_0000, 0x02]),  # 2 x 1000
    ]  # fmt: skip
    got = ncd.read_ntd_ticks(write(tmp_path, "CL.ntd", ntd_file(9, b"".join(recs))), tz="UTC")
    t = got.trades
    assert t["size"].tolist() == [3, 2, 5, 1_000, 80_000, 2**33, 200, 1_000, 2_000]
    assert t["price"].tolist() == [4143, 4143, 4145, 4138, 4147, 4147, 4147, 4147, 4147]
    base = (T0 - 621_355_968_000_000_000) * 100
    secs = [0, 0, 1, 301, 70_301, 70_301, 70_301, 70_301, 70_301]
    assert np.array_equal(t["ts_event"], base + np.array(secs) * 1_000_000_000)
    assert np.all(t["side"] == Side.NONE)


def test_zone_option_defaults_to_new_york(tmp_path: Path) -> None:
    p = write(tmp_path, "ES.ncd", header() + tick(0, b"", 0, b"", 0, b"", 1, b"\x01"))
    ny = ncd.read_ncd_ticks(p).trades["ts_event"][0]
    utc = ncd.read_ncd_ticks(p, tz="UTC").trades["ts_event"][0]
    chicago = ncd.read_ncd_ticks(p, tz="America/Chicago").trades["ts_event"][0]
    assert ny - utc == 5 * 3_600_000_000_000  # EST in January
    assert chicago - ny == 3_600_000_000_000
    assert ny == T0_UTC_NS


def test_instrument_from_folder_name_or_option(tmp_path: Path) -> None:
    folder = tmp_path / "db" / "minute" / "NQ 09-20"
    folder.mkdir(parents=True)
    p = folder / "20200623.Last.ncd"
    p.write_bytes(header() + minute(0, b"", 0, b"", 0, b"", 0, b"", 0, b"", 1, b"\x01"))
    assert ncd.is_ncd_minutes(p)
    assert detect_format(p) == "ncd_minutes"
    got = load_stream(p)
    assert got.kind == "bars" and got.instrument.contract == "NQU0"
    assert load_stream(p, ES).instrument.symbol == "ES"
    anon = write(tmp_path, "20200623.Last.ncd", header())
    with pytest.raises(DecodeError, match="cannot tell the instrument"):
        ncd.read_ncd_ticks(anon)
    assert len(ncd.read_ncd_ticks(anon, ES).trades) == 0  # a header alone: no ticks


def test_off_grid_increment_refused_and_tick_mismatch_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recs = tick(0, b"", 1, b"", 0, b"", 1, b"\x01", d5=17)  # one 0.1 step above 3000
    p = write(tmp_path, "ES.ncd", header(inc=0.1) + recs)
    with pytest.raises(DecodeError, match=r"increment 0\.1 puts prices off the tick 0\.25"):
        ncd.read_ncd_ticks(p)
    q = write(tmp_path, "ES.ncd", header(inc=0.5) + recs)
    assert ncd.read_ncd_ticks(q).trades["price"].tolist() == [12_002]
    assert "price increment 0.5 is not the tick 0.25 of ES" in caplog.text


def test_open_chunks_and_estimate(tmp_path: Path) -> None:
    recs = b"".join(tick(0, b"", 0, b"", 0, b"", 1, b"\x01") for _ in range(5))
    p = write(tmp_path, "ES.ncd", header() + recs)
    inst, kind, chunks = open_chunks(p, chunk_records=2)
    assert (inst.symbol, kind) == ("ES", "trades")
    assert [len(c.records) for c in chunks] == [2, 2, 1]
    assert estimate_records(p) == (28 + 5 * 3) // 4  # about 4 bytes a record
    ny = next(open_chunks(p).chunks).records["ts_event"][0]
    utc = next(open_chunks(p, tz="UTC").chunks).records["ts_event"][0]
    assert ny - utc == 5 * 3_600_000_000_000


# ---------------------------------------------------------------------------------------------
# faults: one DecodeError naming the file and the byte offset


def _fault(path: Path, reader: object, offset: int, field: str, text: str) -> None:
    with pytest.raises(DecodeError) as info:
        reader(path)  # type: ignore[operator]
    err = info.value
    assert err.message.startswith(f"{path.name}: byte {offset:,}: ")
    assert text in err.message
    assert err.details["offset"] == offset and err.details["field"] == field
    assert err.details["file"] == str(path)


def test_truncated_header(tmp_path: Path) -> None:
    p = write(tmp_path, "ES.ncd", header()[:20])
    _fault(p, ncd.read_ncd_ticks, 20, "header", "truncated header: 20 bytes, a header is 28")
    _fault(p, ncd.read_ncd_minutes, 20, "header", "truncated header")
    q = write(tmp_path, "CL.ntd", ntd_file(1, b"")[:40])
    _fault(q, ncd.read_ntd_ticks, 40, "header", "a header is 64")


def test_truncated_record(tmp_path: Path) -> None:
    good = tick(1, b"\x01", 0, b"", 0, b"", 5, b"\x00\x01")
    p = write(tmp_path, "ES.ncd", header() + good + good[:-1])
    _fault(p, ncd.read_ncd_ticks, 28 + len(good), "record", "record 2: truncated record")
    q = write(tmp_path, "ES.ncd", header() + good + good[:1])  # a lone flag byte
    _fault(q, ncd.read_ncd_ticks, 28 + len(good), "record", "record 2: truncated")
    m = minute(1, b"\x02", 0, b"", 1, b"\x01", 0, b"", 0, b"", 1, b"\x05")
    r = write(tmp_path, "ESMinutes.ncd", header() + m + m + m[:-2])
    _fault(r, ncd.read_ncd_minutes, 28 + 2 * len(m), "record", "record 3: truncated record")
    s = write(tmp_path, "CL.ntd", ntd_file(3, bytes([0b0001_0101, 0x01, 130, 0x05, 0x11])))
    _fault(s, ncd.read_ntd_ticks, 68, "record", "record 3: truncated record")


def test_wrong_magic(tmp_path: Path) -> None:
    p = write(tmp_path, "ES.ncd", header(version=7) + tick(0, b"", 0, b"", 0, b"", 1, b"\x01"))
    _fault(p, ncd.read_ncd_ticks, 0, "magic", "not a NinjaTrader .ncd file: version 7")
    q = write(tmp_path, "CL.ntd", ntd_file(1, b"", inc=-0.01))
    _fault(q, ncd.read_ntd_ticks, 0, "magic", "not a NinjaTrader .ntd file")
    r = write(tmp_path, "ES.ncd", header(inc=float("nan")))
    _fault(r, ncd.read_ncd_ticks, 4, "increment", "is not a tick size")
    s = write(tmp_path, "ES.ncd", header(t0=-5))
    _fault(s, ncd.read_ncd_ticks, 20, "time", "is not a .NET DateTime")


def test_unknown_flags_and_impossible_count(tmp_path: Path) -> None:
    good = tick(0, b"", 0, b"", 0, b"", 1, b"\x01")
    p = write(tmp_path, "ES.ncd", header() + good + tick(6, b"", 0, b"", 0, b"", 1, b"\x01"))
    _fault(p, ncd.read_ncd_ticks, 31, "time", "record 2: unknown time flag")
    q = write(tmp_path, "ES.ncd", header() + good + tick(0, b"", 0, b"", 0, b"", 0, b""))
    _fault(q, ncd.read_ncd_ticks, 31, "volume", "record 2: unknown volume flag")
    r = write(tmp_path, "CL.ntd", ntd_file(1_000, b"\x10\x01"))
    _fault(r, ncd.read_ntd_ticks, 12, "count", "record count 1,000 exceeds")
    s = write(tmp_path, "CL.ntd", ntd_file(2, b"\x00"))
    _fault(s, ncd.read_ntd_ticks, 64, "volume", "record 2: unknown volume flag")
