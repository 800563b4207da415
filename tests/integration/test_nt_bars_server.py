"""NinjaTrader's own series through the real server: ESH4 fed as NinjaTrader events over the
WebSocket with 1-minute and 5-minute bars built from the same prints, and NinjaTrader's real
minute bars over ``POST /bar_update``. Each ack carries ``bar_metrics`` for exactly the series
its batch changed; a bar's delta equals the footprint's delta of the same minute (5 minutes)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest
from websockets.sync.client import connect

from orderflow.protocol import Bar, Batch
from orderflow.server.hub import Hub
from orderflow.trading.node import TradingNode
from orderflow.trading.orders import OrderCommand
from orderflow.trading.params import ServerTradingParams
from tests.integration.test_server import Server, comparable, esh4_batches
from tests.unit.analytics.test_nt_bars import minute_bars

pytestmark = pytest.mark.slow

NS = 1_000_000_000


def with_bars(batches: list[Batch]) -> tuple[list[Batch], dict[int, list[Bar]]]:
    """The batches, each closed 1-minute (series 0) and 5-minute (series 1) bar of their
    prints added to the first batch that reaches its end (after the bar's last print: a batch
    applies its ticks before its bars)."""
    ohlcv: dict[tuple[int, int], list] = {}
    for b in batches:
        for tk in b.ticks:
            for series, size in ((0, 60 * NS), (1, 300 * NS)):
                key = (series, tk.t // size * size)
                bar = ohlcv.get(key)
                if bar is None:
                    ohlcv[key] = [tk.price, tk.price, tk.price, tk.price, tk.size]
                else:
                    bar[1], bar[2] = max(bar[1], tk.price), min(bar[2], tk.price)
                    bar[3], bar[4] = tk.price, bar[4] + tk.size
    sent: dict[int, list[Bar]] = defaultdict(list)
    out = []
    pending = sorted(ohlcv.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    for b in batches:
        now = max([d.t for d in b.depth] + [t.t for t in b.ticks])
        due = []
        for (series, t), (o, h, lo, c, v) in pending:
            size = (60 if series == 0 else 300) * NS
            if t + size <= now and t not in {x.t for x in sent[series]}:
                period = "1 Minute" if series == 0 else "5 Minute"
                bar = Bar(series, t, o, h, lo, c, v, True, period)
                due.append(bar)
                sent[series].append(bar)
        out.append(msgspec.structs.replace(b, bars=due) if due else b)
    return out, sent


def test_bar_metrics_over_the_websocket_carry_the_changed_series_and_the_footprints_delta():
    batches, sent = with_bars(esh4_batches()[0])
    assert len(sent[0]) > 40 and len(sent[1]) > 8
    server = Server()
    try:
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
            assert json.loads(ws.recv())["type"] == "welcome"
            acks = []
            for b in batches:
                ws.send(msgspec.json.encode(b).decode())
                acks.append(json.loads(ws.recv()))
    finally:
        server.stop()
    hub = Hub()
    local = [msgspec.to_builtins(hub.apply(b, "nt8")[0]) for b in batches]
    assert [comparable(a) for a in acks] == [comparable(a) for a in local]
    footprint = {
        series: {int(r["ts_open"]): int(r["delta"]) for r in
                 hub.state("ESH4").pipeline.bars[series].bars()}
        for series in (0, 1)
    }  # fmt: skip
    first_print = min(t.t for b in batches for t in b.ticks)
    checked = 0
    for ack, b in zip(acks, batches, strict=True):
        if not b.bars:
            assert ack["bar_metrics"] is None
            continue
        entries = ack["bar_metrics"]
        assert [e["series"] for e in entries] == sorted({x.series for x in b.bars})
        for e in entries:
            bar = [x for x in b.bars if x.series == e["series"]][-1]
            assert (e["ts_ns"], e["open"], e["high"], e["low"], e["close"], e["volume"]) == (
                bar.t, bar.open, bar.high, bar.low, bar.close, bar.volume)  # fmt: skip
            assert e["period"] == ("1 Minute" if e["series"] == 0 else "5 Minute")
            assert e["range"] == bar.high - bar.low and e["body"] == abs(bar.close - bar.open)
            if bar.t < first_print:  # the prints began inside this bar: no delta
                assert e["delta"] is None and e["imbalance"] is None
                continue
            assert e["delta"] == footprint[e["series"]][bar.t], (e["series"], bar.t)
            checked += 1
    assert checked >= len(sent[0]) + len(sent[1]) - 2
    assert any(len(a["bar_metrics"] or ()) == 2 for a in acks)  # both series closed together
    assert any(e["delta"] for a in acks for e in a["bar_metrics"] or ())


def test_bar_update_gives_metrics_of_the_series_it_carries():
    bars = minute_bars()[:10]
    server = Server()
    try:
        with httpx.Client(base_url=server.http) as client:

            def post(series_bars: list[Bar]) -> dict:
                batch = Batch("ES 06-20", bars=series_bars)
                r = client.post("/bar_update", content=msgspec.json.encode(batch))
                assert r.status_code == 200, r.text
                return r.json()

            acks = []
            for i, (t, o, h, lo, c, v) in enumerate(bars):
                out = [Bar(0, t, o, h, lo, c, v, True, "1 Minute")]
                if i % 5 == 4:  # the 5-minute bar of the last five
                    five = bars[i - 4 : i + 1]
                    out.append(Bar(1, five[0][0], five[0][1], max(x[2] for x in five),
                                   min(x[3] for x in five), five[-1][4],
                                   sum(x[5] for x in five), True, "5 Minute"))  # fmt: skip
                acks.append(post(out))
            only_five = post([Bar(1, bars[-1][0] + 60 * NS, 3114.0, 3114.0, 3114.0, 3114.0, 1)])
            view = client.get("/api/bars/ESM0", params={"series": 0, "bars": 10}).json()
            assert client.get("/api/bars/ESM0", params={"source": "x"}).status_code == 400
    finally:
        server.stop()
    assert [[e["series"] for e in a["bar_metrics"]] for a in acks] == [
        [0], [0], [0], [0], [0, 1], [0], [0], [0], [0], [0, 1]]  # fmt: skip
    third = acks[2]["bar_metrics"][0]
    assert (third["range"], third["body"], third["volume"]) == (2.75, 2.25, 191)
    assert third["atr"] == pytest.approx((1.5 + 2.0 + 2.75) / 3)
    assert third["relative_volume"] == 191 / ((138 + 175) / 2)
    assert third["delta"] is None  # bars without ticks
    five = acks[9]["bar_metrics"][1]
    assert (five["series"], five["period"], five["volume"]) == (
        1, "5 Minute", sum(b[5] for b in bars[5:]))  # fmt: skip
    assert five["relative_volume"] == sum(b[5] for b in bars[5:]) / sum(b[5] for b in bars[:5])
    assert [e["series"] for e in only_five["bar_metrics"]] == [1]
    assert only_five["bar_metrics"][0]["period"] == "5 Minute"
    # the bar-range profile: the ten bars' volume over their ranges (no prints here)
    assert [e["series"] for e in view["bar_metrics"]] == [0, 1]
    prof = view["profile"]
    assert (prof["source"], prof["bars"], prof["volume"]) == ("bars", 10, sum(b[5] for b in bars))
    assert prof["val"] <= prof["poc"] <= prof["vah"] and prof["period"] == "1 Minute"


def test_the_servers_strategy_is_shown_the_ninjatrader_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the node's strategy host gets on each decision: the series' closed bars (the
    server's strategy on, so every batch of the feeder reaches its node)."""
    batches, sent = with_bars(esh4_batches()[0])
    hub = Hub(trading_server=ServerTradingParams(strategy=True))
    seen: list[Mapping[int, np.ndarray] | None] = []
    market = TradingNode.market

    def decide(node: TradingNode, *a: Any, **k: Any) -> list[OrderCommand]:
        seen.append(a[4] if len(a) > 4 else k.get("series"))
        return market(node, *a, **k)

    monkeypatch.setattr(TradingNode, "market", decide)
    for b in batches:
        hub.apply(b, "nt8")
    last = seen[-1]
    assert last is not None
    assert sorted(last) == [0, 1]
    assert [int(t) for t in last[1]["ts_open"]] == [b.t for b in sent[1]]
    assert len(last[0]) == len(sent[0])
