"""One peer's L3 replay of a Databento MBO file, timed with benchmarks/harness.py; JSON on stdout.

Runs in the peers' own environment (``.venv-peers``, made by ``make bench-peers`` from
benchmarks/peers/requirements.txt), never in orderflow's; it does not import orderflow.
benchmarks/bench_peers.py starts it and compares what it writes with orderflow's book::

    .venv-peers/bin/python benchmarks/peers/run_peer.py nautilus FILE --records N \
        --seconds S --top OUT.npz [--check cython|pyo3|none]
    .venv-peers/bin/python benchmarks/peers/run_peer.py hftbacktest FILE --records N \
        --seconds S --top OUT.npz

Every rate counts the records of the stream (``--records``, the DBN file's MBO records) per
second of time in the measured call, for every side alike, so ratios compare time for the same
market. Decode (the peer's own loader or converter, DBN file to its objects) is measured apart
from the book replay (its objects into its book).

- nautilus: ``DatabentoDataLoader.from_dbn_file`` (decode) gives ``OrderBookDelta`` objects
  (trades dropped, fills as updates); the replay calls ``OrderBook(L3_MBO).apply_delta`` for
  each (the Cython book, and the pyo3 book of the same Rust core as a second row). The top 10
  levels per side (price, size, orders) at every delta carrying F_LAST are written to ``--top``
  (untimed pass; ``cython`` reads them through ``bids()``/``asks()``, about 1 ms a boundary,
  ``pyo3`` through ``bids(10)``/``asks(10)``).
- hftbacktest: ``hftbacktest.data.utils.databento.convert`` (decode: its own converter, DBN to
  its event array) and a ``HashMapMarketDepthBacktest`` with ``l3_fifo_queue_model`` and the
  no-partial-fill exchange (book: the whole stream through its L3 local and exchange
  processors, i.e. two market-by-order books, one at exchange time and one at local time, and
  the FIFO queue model, stepped to the end by ``elapse`` in a jitted loop). Its final top 10
  (price, size; it keeps no per-level order count) is written to ``--top``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import Result, latencies, measure, peak_memory, percentiles

SUITE = "peers"
DEPTH = 10
F_LAST = 0x80


def _row(name: str, impl: str, tp: Any, **kw: Any) -> Result:
    r = Result(SUITE, "peers", impl, name, tp.events_per_s, **kw)
    r.seconds, r.calls = tp.seconds, tp.calls
    r.extra["call_ns_median"] = float(np.median(tp.call_ns))
    return r


def _set_mem(r: Result, m: Any) -> Result:
    """Memory of decode + replay, measured first in the process (see MEMORY_NOTE)."""
    r.peak_bytes, r.retained_bytes, r.rss_growth_bytes = (
        m.peak_bytes,
        m.retained_bytes,
        m.rss_growth_bytes,
    )
    return r


def _ticks(px: float, tick: float) -> int:
    t = round(px / tick)
    if abs(t * tick - px) > 1e-9 * max(1.0, abs(px)):
        raise ArithmeticError(f"price {px} is off the {tick} grid")
    return int(t)


# ---------------------------------------------------------------------------- nautilus


def _nautilus_top(book: Any, deltas: list[Any], tick: float, cython: bool) -> dict[str, Any]:
    nb = sum(1 for d in deltas if d.flags & F_LAST)
    top = {f: np.zeros((nb, DEPTH), np.int64) for f in ("bid_price", "bid_size", "bid_count")}
    top.update({f: np.zeros((nb, DEPTH), np.int64) for f in ("ask_price", "ask_size", "ask_count")})
    ts = np.zeros(nb, np.int64)
    k = 0
    for d in deltas:
        book.apply_delta(d)
        if not d.flags & F_LAST:
            continue
        ts[k] = d.ts_event  # nautilus's ts_event is Databento's ts_recv
        for side, levels in (
            ("bid", book.bids()[:DEPTH] if cython else book.bids(DEPTH)),
            ("ask", book.asks()[:DEPTH] if cython else book.asks(DEPTH)),
        ):
            for j, lv in enumerate(levels):
                size = float(lv.size())
                top[f"{side}_price"][k, j] = _ticks(lv.price.as_double(), tick)
                top[f"{side}_size"][k, j] = int(size)
                top[f"{side}_count"][k, j] = len(lv.orders()) if cython else lv.len()
                if size != int(size):
                    raise ArithmeticError(f"fractional size {size}")
        k += 1
    return {**top, "ts_recv": ts}


def run_nautilus(args: argparse.Namespace) -> tuple[list[Result], dict[str, Any]]:
    import nautilus_trader
    from nautilus_trader.adapters.databento import DatabentoDataLoader
    from nautilus_trader.core import nautilus_pyo3 as n3
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.enums import BookType

    path, n = str(args.file), args.records
    loader = DatabentoDataLoader()
    info: dict[str, Any] = {"versions": {"nautilus_trader": nautilus_trader.__version__}}
    if args.top_only:
        return [], _nautilus_check(args, loader, info)

    def replay(b: Any, ds: list[Any]) -> Any:
        apply = b.apply_delta
        for d in ds:
            apply(d)
        return b

    def decode() -> Any:
        return loader.from_dbn_file(path, as_legacy_cython=True)

    def decode3() -> Any:
        return loader.from_dbn_file(path, as_legacy_cython=False)

    def first_pass() -> Any:
        ds = decode()
        return replay(OrderBook(ds[0].instrument_id, book_type=BookType.L3_MBO), ds), ds

    # Memory first, while the process has not yet held a decoded stream or a book.
    memory = peak_memory(first_pass)
    rows = [
        _row(
            "nautilus decode: DatabentoDataLoader -> OrderBookDelta (Cython)",
            "nautilus",
            measure(decode, n, args.seconds),
        ),
        _row(
            "nautilus decode: DatabentoDataLoader -> OrderBookDelta (pyo3)",
            "nautilus",
            measure(decode3, n, args.seconds),
        ),
    ]
    deltas, deltas3 = decode(), decode3()
    iid = deltas[0].instrument_id
    iid3 = deltas3[0].instrument_id

    def book() -> Any:
        return OrderBook(iid, book_type=BookType.L3_MBO)

    def book3() -> Any:
        return n3.OrderBook(iid3, n3.BookType.L3_MBO)

    for label, new, ds in (("Cython", book, deltas), ("pyo3", book3, deltas3)):
        tp = measure(lambda b, ds=ds: replay(b, ds), n, args.seconds, setup=new)
        r = _row(f"nautilus L3 OrderBook.apply_delta ({label}), whole stream", "nautilus", tp)
        r.extra["deltas"] = len(ds)
        # per event group: the deltas up to and including each F_LAST, one book, in order
        groups: list[list[Any]] = [[]]
        for d in ds:
            groups[-1].append(d)
            if d.flags & F_LAST:
                groups.append([])
        groups = [g for g in groups if g]
        one_book = new()

        def group(i: int, b: Any = one_book, gs: list[list[Any]] = groups) -> Any:
            return replay(b, gs[i])

        lat = latencies(group, len(groups))
        r.p50_ns, r.p99_ns = percentiles(lat[1:])  # the first group is the snapshot
        r.lat_unit = "group"
        r.extra["groups"] = len(groups)
        if label == "Cython":
            _set_mem(r, memory)
        rows.append(r)

    return rows, _nautilus_check(args, loader, info)


def _nautilus_check(args: argparse.Namespace, loader: Any, info: dict[str, Any]) -> dict[str, Any]:
    """Decode once more and write the chosen book's top 10 at every F_LAST delta (untimed)."""
    from nautilus_trader.core import nautilus_pyo3 as n3
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.enums import BookType

    cython = args.check == "cython"
    deltas = loader.from_dbn_file(str(args.file), as_legacy_cython=cython)
    info["deltas"] = len(deltas)
    info["deltas_with_f_last"] = sum(1 for d in deltas if d.flags & F_LAST)
    if args.check == "none" or not args.top:
        return info
    iid = deltas[0].instrument_id
    book = (
        OrderBook(iid, book_type=BookType.L3_MBO)
        if cython
        else n3.OrderBook(iid, n3.BookType.L3_MBO)
    )
    top = _nautilus_top(book, deltas, args.tick, cython)
    np.savez(args.top, **top)
    info["top"] = {"file": args.top, "book": args.check, "boundaries": len(top["ts_recv"])}
    return info


# ---------------------------------------------------------------------------- hftbacktest


def run_hftbacktest(args: argparse.Namespace) -> tuple[list[Result], dict[str, Any]]:
    import hftbacktest
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    from hftbacktest.data.utils import databento as hbt_databento
    from numba import njit

    path, n, tick = str(args.file), args.records, args.tick

    def decode() -> Any:
        with contextlib.redirect_stdout(sys.stderr):  # the converter prints its steps
            return hbt_databento.convert(path, symbol=None)

    @njit(cache=False)
    def to_end(hbt: Any) -> int:
        steps = 0
        while hbt.elapse(60_000_000_000) == 0:  # one minute a step, to the end of the data
            steps += 1
        return steps

    @njit(cache=False)
    def top10(hbt: Any, out: np.ndarray) -> None:
        d = hbt.depth(0)
        for side in range(2):
            t = d.best_bid_tick if side == 0 else d.best_ask_tick
            j, k = 0, 0
            while j < 10 and k < 4000:  # the top 10 non-empty levels, walking tick by tick
                q = d.bid_qty_at_tick(t) if side == 0 else d.ask_qty_at_tick(t)
                if q > 0:
                    out[side, 0, j] = t
                    out[side, 1, j] = q
                    j += 1
                t = t - 1 if side == 0 else t + 1
                k += 1

    def make(data: np.ndarray) -> Any:
        asset = (
            BacktestAsset()
            .data(data)
            .linear_asset(1.0)
            .constant_order_latency(0, 0)
            .l3_fifo_queue_model()
            .no_partial_fill_exchange()
            .trading_value_fee_model(0.0, 0.0)
            .tick_size(tick)
            .lot_size(1.0)
        )
        return HashMapMarketDepthBacktest([asset])

    # Compile the jitted loops on a few events first, so their compilation is in no figure.
    with contextlib.redirect_stdout(sys.stderr):
        warm = make(decode()[:64].copy())
    to_end(warm)
    top10(warm, np.zeros((2, 2, DEPTH), np.float64))
    warm.close()

    def first_pass() -> Any:
        fresh = decode()
        h = make(fresh)
        to_end(h)
        return h, fresh

    # Memory first, while the process has not yet held a converted stream or a backtest.
    memory = peak_memory(first_pass)
    rows = [
        _row(
            "hftbacktest decode: data.utils.databento.convert -> event array",
            "hftbacktest",
            measure(decode, n, args.seconds),
        ),
    ]
    data = decode()

    made: list[Any] = []

    def setup() -> Any:
        while made:
            made.pop().close()
        made.append(make(data))
        return made[-1]

    tp = measure(to_end, n, args.seconds, setup=setup)
    r = _row("hftbacktest L3 replay (FIFO queue model), whole stream", "hftbacktest", tp)
    r.note = (
        "hftbacktest: its converter's event array through HashMapMarketDepthBacktest with "
        "l3_fifo_queue_model: an exchange-side and a local-side market-by-order book and the "
        "FIFO queue model; no per-group entry point from Python, so no per-group latency"
    )
    r.extra["events"] = len(data)
    rows.append(_set_mem(r, memory))
    h = setup()
    to_end(h)
    out = np.zeros((2, 2, DEPTH), np.float64)
    top10(h, out)
    h.close()
    made.clear()
    info = {"versions": {"hftbacktest": hftbacktest.__version__}}
    if args.top:
        top = {
            "bid_price": out[0, 0][None].astype(np.int64),
            "bid_size": out[0, 1][None].astype(np.int64),
            "ask_price": out[1, 0][None].astype(np.int64),
            "ask_size": out[1, 1][None].astype(np.int64),
        }
        np.savez(args.top, **top)
        info["top"] = {"file": args.top, "book": "final", "boundaries": 1}
    return rows, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("peer", choices=("nautilus", "hftbacktest"))
    ap.add_argument("file", type=Path, help="Databento MBO file (.dbn.zst), read in place")
    ap.add_argument("--records", type=int, required=True, help="MBO records in the file")
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum seconds per measurement")
    ap.add_argument("--tick", type=float, default=0.25, help="the instrument's tick size")
    ap.add_argument("--top", help="write the peer's top 10 levels here (.npz)")
    ap.add_argument(
        "--check",
        choices=("cython", "pyo3", "none"),
        default="cython",
        help="nautilus: which book's top 10 is written at every boundary",
    )
    ap.add_argument(
        "--top-only",
        action="store_true",
        help="nautilus: only write the top 10 (no timing), for the equality test",
    )
    args = ap.parse_args(argv)
    if args.records <= 0 or args.seconds <= 0 or args.tick <= 0:
        ap.error("--records, --seconds and --tick must be positive")
    run = run_nautilus if args.peer == "nautilus" else run_hftbacktest
    rows, info = run(args)
    info["versions"].update(python=platform.python_version(), numpy=np.__version__)
    info["loadavg"] = list(os.getloadavg())
    doc = {"peer": args.peer, "info": info, "results": [asdict(r) for r in rows]}
    print(json.dumps(doc, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
