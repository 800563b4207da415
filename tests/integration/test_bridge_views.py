"""The bridge's C# API for NinjaScript users (protocol version 2, docs/protocol.md): the example
strategy that decides in C# from OrderflowView, driven through the stub over scripted server
answers, and the transport's state_request after a reconnect and after a missed answer, against
a stand-in WebSocket server. The parsing checks themselves are SelfTestViews.cs, run by
test_bridge.py (test_answers_become_orderflow_views)."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from tests.integration.test_bridge import BUILD, ES, build, run_selftest

__all__ = ["build"]  # the module-scoped fixture that runs build.sh

HARNESS_EXE = BUILD / "OrderflowStrategyHarness.exe"


def cluster(
    cid: str, kind: str, low: float, high: float, side: str, strength: float
) -> dict[str, Any]:
    return {
        "id": cid,
        "kind": kind,
        "low": low,
        "high": high,
        "size": 300,
        "side": side,
        "strength": strength,
        "orders": None,
        "first_seen_ns": 1_703_545_100_000_000_000,
        "last_seen_ns": 1_703_545_200_000_000_000,
    }


def ack(
    seq: int,
    metrics: dict[str, Any],
    clusters: list[dict[str, Any]] | int,
    stale: bool = False,
) -> str:
    """An ack as a protocol-2 server writes it; clusters: the full list, or the version that
    is "unchanged"."""
    if isinstance(clusters, int):
        state: dict[str, Any] = {"state": "unchanged", "version": clusters, "items": None}
    else:
        state = {"state": "full", "version": seq, "items": clusters}
    return json.dumps(
        {
            "type": "ack",
            "seq": seq,
            "instrument": ES,
            "duplicate": False,
            "applied": {"bars": 1},
            "rejected": {},
            "stale": stale,
            "book": {"bids": [[4810.0, 22]], "asks": [[4810.25, 28]]},
            "metrics": {"spread": 0.25, "mid": 4810.125, **metrics},
            "signals": [],
            "processing_us": 40.0,
            "first_seq": seq,
            "clusters": state,
            "profile": None,
            "bar_metrics": None,
        }
    )


def run_example(script: list[str]) -> list[str]:
    """OrderflowStrategyHarness.exe --example over the script: the lines it printed about
    orders (one per order submitted: name, action, type, quantity, stop price, final state)
    and the malformed-answer count. The transport points at a port nobody listens on."""
    proc = subprocess.run(
        ["mono", str(HARNESS_EXE), "ws://127.0.0.1:9/ws", "--example"],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"harness failed:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.splitlines()
    assert [line for line in lines if line.startswith("ok ")] == [f"ok {line}" for line in script]
    return [line for line in lines if line.startswith(("order ", "malformed "))]


def test_the_example_strategy_places_the_orders_its_rules_imply(build: None) -> None:
    """Defaults: imbalance >= 0.3, momentum >= 0.2, a liquidity cluster of strength >= 0.6
    at most 8 ticks from the close, stop 2 ticks beyond it, quantity 1; tick 0.25; the stub
    fills market orders at once."""
    strong_bid = cluster("liq-bid-1", "liquidity", 4808.5, 4809.0, "bid", 0.8)  # 5 ticks below
    weak_bid = cluster("liq-bid-2", "liquidity", 4809.75, 4810.0, "bid", 0.3)  # too weak
    volume = cluster("vol-buy-3", "volume", 4810.0, 4810.25, "buy", 0.9)  # not liquidity
    ask = cluster("liq-ask-7", "liquidity", 4811.0, 4811.5, "ask", 0.7)  # 3 ticks above
    far_bid = cluster("liq-bid-1", "liquidity", 4807.0, 4807.5, "bid", 0.95)  # 11 ticks below
    long_flow = {"imbalance": 0.5, "momentum": 0.4}
    short_flow = {"imbalance": -0.4, "momentum": -0.3}
    script = [
        "bar 4810.25",  # no answer yet: Orderflow is Empty, nothing
        "answer " + ack(1, long_flow, [strong_bid, weak_bid, volume, ask]),
        "bar 4810.25",  # long: the strong bid cluster, stop at 4808.5 - 2 ticks
        "bar 4810.5",  # in the trade: nothing
        "fill of-stop-1 1 4808.0",  # stopped out: flat
        "answer " + ack(2, {"imbalance": 0.5, "momentum": 0.1}, 1),
        "bar 4810.25",  # momentum too low
        "answer " + ack(3, {"momentum": 0.4}, 1),
        "bar 4810.25",  # imbalance absent (NaN)
        "answer " + ack(4, long_flow, [far_bid, ask]),
        "bar 4810.25",  # the only strong bid cluster is 11 ticks below
        "answer " + ack(5, short_flow, [far_bid, ask], stale=True),
        "bar 4810.25",  # stale view
        "answer " + ack(6, short_flow, 5),
        "bar 4810.25",  # short: the ask cluster, stop at 4811.5 + 2 ticks
        "answer " + ack(7, long_flow, 5).replace('"unchanged"', '"sometimes"'),  # malformed
    ]
    assert run_example(script) == [
        "order of-long-1 Buy Market 1 0 Filled",
        "order of-stop-1 Sell StopMarket 1 4808 Filled",
        "order of-short-2 SellShort Market 1 0 Filled",
        "order of-stop-2 BuyToCover StopMarket 1 4812 Working",
        "malformed 1",
    ]


def test_a_malformed_answer_leaves_the_view_the_example_trades_on(build: None) -> None:
    """The malformed answer (a cluster without an id) is ignored: the view of answer 1 (no
    cluster) stays, so the bar after it does not trade; answer 3 (valid) does."""
    bid = cluster("liq-bid-1", "liquidity", 4809.5, 4810.0, "bid", 0.7)
    flow = {"imbalance": 0.35, "momentum": 0.25}
    broken = ack(2, flow, [bid]).replace('"id": "liq-bid-1", ', "")
    script = [
        "answer " + ack(1, flow, []),
        "answer " + broken,
        "bar 4810.25",
        "answer " + ack(3, flow, [bid]),
        "bar 4810.25",
    ]
    assert run_example(script) == [
        "order of-long-1 Buy Market 1 0 Filled",
        "order of-stop-1 Sell StopMarket 1 4809 Working",
        "malformed 1",
    ]


def test_the_transport_asks_for_the_state_after_a_missed_answer_and_a_reconnect(
    build: None,
) -> None:
    """Against a protocol-2 stand-in: an "unchanged" to a version the client never saw, and a
    malformed answer, each get one state_request (none while one is unanswered); after the
    server drops the connection the client asks again for every instrument it has a view of."""
    requests: list[tuple[int, dict[str, Any]]] = []
    connections = [0]
    full = ack(
        1, {"imbalance": 0.1}, [cluster("liq-bid-1", "liquidity", 4809.0, 4809.5, "bid", 0.5)]
    )
    state = json.dumps(
        {
            "type": "state",
            "instrument": ES,
            "metrics": {"imbalance": 0.2},
            "clusters": {"state": "full", "version": 9, "items": []},
            "profile": None,
            "bar_metrics": None,
        }
    )

    def next_request(ws: ServerConnection, n: int) -> dict[str, Any]:
        while True:
            m = json.loads(ws.recv(timeout=10))
            if m["type"] not in ("heartbeat", "bye"):
                requests.append((n, m))
                return dict(m)

    def handler(ws: ServerConnection) -> None:
        connections[0] += 1
        n = connections[0]
        assert json.loads(ws.recv())["type"] == "hello"
        ws.send('{"type":"welcome","protocol":2,"server":"stand-in","session":"s","last_seq":0}')
        if n == 1:
            ws.send(full)
            ws.send(ack(2, {"imbalance": 0.1}, 5))  # unchanged v5: v2..v5 were missed
            next_request(ws, n)
            ws.send(ack(3, {}, 5).replace('"unchanged"', '"bogus"'))  # a request is pending
            ws.send(state)
            ws.send(ack(4, {}, 9).replace('"unchanged"', '"bogus"'))  # malformed: asks again
            next_request(ws, n)
            ws.close()
            return
        next_request(ws, n)
        for text in ws:
            m = json.loads(text)
            if m["type"] not in ("heartbeat", "bye"):
                requests.append((n, m))

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            run_selftest("--idle", f"ws://127.0.0.1:{port}/ws", "3000")
        finally:
            server.shutdown()
            thread.join(10)

    asked = {"type": "state_request", "instrument": ES}
    assert requests == [(1, asked), (1, asked), (2, asked)]


def expected_view(acks: list[dict[str, Any]]) -> dict[str, Any]:
    """What the view must hold after these acks, by the spec's rules: metrics of the last;
    clusters and profile of the last "full" (none before a protocol-2 server sends them)."""
    last = acks[-1]
    clusters: list[dict[str, Any]] = []
    profile: dict[str, Any] | None = None
    for a in acks:
        if (a.get("clusters") or {}).get("state") == "full":
            clusters = sorted(a["clusters"]["items"], key=lambda c: str(c["id"]))
        if (a.get("profile") or {}).get("state") == "full":
            profile = {k: a["profile"][k] for k in ("poc", "vah", "val", "hvn", "lvn", "volume")}
    return {
        "seq": last["seq"],
        "metrics": last["metrics"],
        "clusters": clusters,
        "profile": profile,
    }


@pytest.mark.slow
def test_the_view_built_from_the_real_servers_acks_equals_them(build: None, tmp_path: Path) -> None:
    """End to end: the C# transport sends ESH4's first 3,000-odd NinjaTrader depth events to the
    real server; the OrderflowView it built (keyed by the bridge's name, ES 03-24, while the
    server says ESH4) holds the last ack's seq and metrics number for number, and the clusters
    and profile of the last "full" answer when the server speaks protocol 2."""
    import numpy as np

    from orderflow.io.dbn import read_mbo
    from orderflow.io.nt_convert import mbo_to_nt_depth
    from orderflow.model.enums import Flags, NtOperation
    from tests.conftest import ES_MBO, need
    from tests.integration.test_server import Server

    mbo, inst = read_mbo(need(ES_MBO))
    nt = mbo_to_nt_depth(mbo, levels=10, instrument=inst)
    ends = np.flatnonzero(nt["flags"] & Flags.LAST) + 1
    stop = int(ends[np.searchsorted(ends, 3_000)])
    ops = {int(NtOperation.ADD): "add", int(NtOperation.UPDATE): "update",
           int(NtOperation.REMOVE): "remove"}  # fmt: skip
    csv = tmp_path / "esh4.csv"
    csv.write_text("".join(
        f"{ES},{int(e['ts_event'])},{'bid' if e['side'] == 0 else 'ask'},"
        f"{ops[int(e['operation'])]},{int(e['position'])},{inst.to_price(int(e['price']))!r},"
        f"{int(e['size'])},0\n" for e in nt[:stop]
    ))  # fmt: skip
    server = Server()
    try:
        lines = run_selftest("--view", server.ws, str(csv), "mono-view", "200")
    finally:
        server.stop()
    acks = [json.loads(line) for line in lines if line.startswith("{")]
    views = [json.loads(line[len("view ") :]) for line in lines if line.startswith("view ")]
    assert acks and len(views) == 1
    view, want = views[0], expected_view(acks)
    assert view["instrument"] == ES and acks[-1]["instrument"] != ES
    assert view["seq"] == want["seq"]
    ratios = want["metrics"].get("bid_ask_ratio") or []
    assert want["metrics"], "the server's ack carries metrics"
    for key, value in want["metrics"].items():
        if key != "bid_ask_ratio":
            assert view["metrics"][key] == value, key
    assert view["metrics"]["bid_ask_ratio"] == sorted(ratios, key=lambda r: int(r["levels"]))
    assert view["clusters"] == want["clusters"]
    # the data time up to which those clusters stand: the last answer's, full or unchanged
    assert view["clusters_as_of_ns"] == acks[-1]["clusters"]["as_of_ns"] > 0
    if want["profile"] is not None:
        assert view["profile"] == want["profile"]


def test_the_strategy_sends_its_cluster_increment_in_the_hello(build: None) -> None:
    """The strategy's *Cluster increment (ticks)* setting is the hello's
    ``cluster_granularity`` (the server groups the clusters of its answers at that width)."""
    hellos: list[dict[str, Any]] = []

    def handler(ws: ServerConnection) -> None:
        hellos.append(json.loads(ws.recv()))
        ws.send('{"type":"welcome","protocol":2,"server":"stand-in","session":"s","last_seq":0}')
        for text in ws:
            m = json.loads(text)
            if m["type"] == "batch":
                ws.send(ack(m["seq"], {}, []))

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            proc = subprocess.run(
                ["mono", str(HARNESS_EXE), f"ws://127.0.0.1:{port}/ws", "--cluster-increment=12"],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        finally:
            server.shutdown()
            thread.join(10)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert hellos and hellos[0]["cluster_granularity"] == 12


@pytest.mark.slow
def test_the_bridge_at_its_own_granularity_gets_and_keeps_the_servers_bands(
    build: None, tmp_path: Path
) -> None:
    """The C# transport with ``ClusterGranularity = 16`` feeds ESH4 to the real server: every
    full answer's clusters are bands 16 ticks wide (ids ``-g16-``, lows on the 16-tick grid),
    and the view it built holds those of the last full answer."""
    import numpy as np

    from orderflow.io.dbn import read_mbo
    from orderflow.io.nt_convert import mbo_to_nt_depth
    from orderflow.model.enums import Flags, NtOperation
    from tests.conftest import ES_MBO, need
    from tests.integration.test_server import Server

    mbo, inst = read_mbo(need(ES_MBO))
    nt = mbo_to_nt_depth(mbo, levels=10, instrument=inst)
    ends = np.flatnonzero(nt["flags"] & Flags.LAST) + 1
    stop = int(ends[np.searchsorted(ends, 3_000)])
    ops = {int(NtOperation.ADD): "add", int(NtOperation.UPDATE): "update",
           int(NtOperation.REMOVE): "remove"}  # fmt: skip
    csv = tmp_path / "esh4.csv"
    csv.write_text("".join(
        f"{ES},{int(e['ts_event'])},{'bid' if e['side'] == 0 else 'ask'},"
        f"{ops[int(e['operation'])]},{int(e['position'])},{inst.to_price(int(e['price']))!r},"
        f"{int(e['size'])},0\n" for e in nt[:stop]
    ))  # fmt: skip
    server = Server()
    try:
        lines = run_selftest("--view", server.ws, str(csv), "mono-bands", "200", "16")
    finally:
        server.stop()
    acks = [json.loads(line) for line in lines if line.startswith("{")]
    views = [json.loads(line[len("view ") :]) for line in lines if line.startswith("view ")]
    full = [a["clusters"]["items"] for a in acks if a["clusters"]["state"] == "full"]
    items = [c for f in full for c in f]
    assert items, "the feed made clusters"
    assert all("-g16-" in c["id"] and inst.to_ticks(c["low"]) % 16 == 0 for c in items)
    assert len(views) == 1 and views[0]["clusters"] == expected_view(acks)["clusters"]
