"""The answer NinjaTrader gets (protocol 2), on the real server fed ESH4 as the bridge's
batches over a real WebSocket: ``/api/state`` (a fresh read) equals ``/api/analytics`` at the
same point, and the clusters, profile and bid/ask ratios a client assembles from its acks (full
or unchanged) are those of that point within the lean rule (docs/protocol.md, "Full or
unchanged"): the same clusters (ids, bounds, sides, births), each strength in the same step,
the same POC and value area, and all of it exactly when no read came since the client's last
full answer; cluster ids are stable for a cluster's life and ``unchanged`` is sent when nothing
changed; every price of every server message kind is in exchange units on the instrument's
grid."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cache
from typing import Any

import httpx
import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.analytics.clusters import ClusterParams
from orderflow.model.instruments import get_instrument
from orderflow.protocol import Bar, Batch
from orderflow.server.answers import strength01
from tests.integration.test_server import Server, esh4_batches
from tests.serving import manual_trading

pytestmark = pytest.mark.slow

ES = get_instrument("ESH4")
TICK = Decimal(str(ES.tick_size))
STEP = 1 / ClusterParams().strength_steps  # a strength step (the default settings)
#: keys whose values are prices on the grid: levels, cluster bounds, profile, signals, orders
GRID = {"price", "prices", "low", "high", "poc", "vah", "val", "hvn", "lvn", "limit_price",
        "stop_price", "extreme_price", "start_price", "spread"}  # fmt: skip
#: prices in exchange units that need not lie on the grid (averages, the mid of a spread)
LEVEL = {"mid", "microprice", "vwap", "upper", "lower"}
#: integers that may be as large as a price in ticks and are no price
COUNTS = {"size", "volume", "seq", "first_seq", "got_seq", "expected_seq", "last_seq",
          "depth", "ticks", "traded", "shown_at_start", "quantity", "version", "run_volume",
          "cumulative_delta", "ofi", "ofi_window", "sizes", "refill_sizes", "hidden_estimate",
          "hidden_low", "hidden_high", "volume_since_extreme", "min_volume"}  # fmt: skip


class Model:
    """What a client keeps from its acks: the clusters by id and the profile, replaced whole
    by a ``full`` answer and kept by an ``unchanged`` one (what the C# side does)."""

    def __init__(self) -> None:
        self.clusters: dict[str, dict[str, Any]] = {}
        self.profile: dict[str, Any] | None = None
        self.cluster_version = self.profile_version = -1

    def take(self, ack: dict[str, Any]) -> None:
        cl = ack["clusters"]
        if cl["state"] == "full":
            self.clusters = {c["id"]: c for c in cl["items"]}
        else:
            assert cl["items"] is None and cl["version"] == self.cluster_version
        self.cluster_version = cl["version"]
        pr = ack["profile"]
        if pr is not None and pr["state"] == "full":
            self.profile = {k: v for k, v in pr.items() if k not in ("state", "version")}
        elif pr is not None:
            assert pr["version"] == self.profile_version and pr["poc"] is None
        if pr is not None:
            self.profile_version = pr["version"]


@cache
def fed() -> dict[str, Any]:
    """ESH4 over a WebSocket to a real server (with API orders), then: a state request, the
    analytics and the state over REST, bar-only batches, a resent batch, a command, a refused
    batch and a gap; every message the server sent, in order."""
    batches, _ = esh4_batches()
    server = Server(**manual_trading())
    msgs: list[dict[str, Any]] = []
    try:
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8"}))
            msgs.append(json.loads(ws.recv()))
            points = []  # (seq, analytics, state) where the acks carry liquidity clusters
            for b in batches:
                ws.send(msgspec.json.encode(b).decode())
                msgs.append(json.loads(ws.recv()))
                items = msgs[-1]["clusters"]["items"] or []
                if not points and any(c["kind"] == "liquidity" for c in items):
                    points.append((b.seq, httpx.get(f"{server.http}/api/analytics/ESH4").json(),
                                   httpx.get(f"{server.http}/api/state/ESH4").json()))  # fmt: skip
            n = len(batches)
            analytics = httpx.get(f"{server.http}/api/analytics/ESH4").json()
            rest_state = httpx.get(f"{server.http}/api/state/ESH4").json()
            ws.send(json.dumps({"type": "state_request", "instrument": "ES 03-24"}))
            msgs.append(json.loads(ws.recv()))
            last_t = batches[-1].depth[-1].t
            for k in range(3):  # a bar of NinjaTrader's: no depth, no prints
                bar = Bar(series=0, t=last_t, open=4800.0, high=4801.0, low=4799.75,
                          close=4800.5, volume=10, closed=False)  # fmt: skip
                b = Batch(instrument="ES 03-24", seq=n + 1 + k, bars=[bar])
                ws.send(msgspec.json.encode(b).decode())
                msgs.append(json.loads(ws.recv()))
            ws.send(msgspec.json.encode(batches[-1]).decode())  # a resend: a duplicate
            msgs.append(json.loads(ws.recv()))
            bid = msgs[n]["book"]["bids"][0][0]
            order = {"client": "nt8", "instrument": "ESH4", "op": "submit", "cid": "a-1",
                     "action": "Buy", "order_type": "Limit", "quantity": 1,
                     "limit_price": bid}  # fmt: skip
            r = httpx.post(f"{server.http}/api/commands", json=order)
            assert r.status_code == 200, r.text
            msgs.append(json.loads(ws.recv()))  # the command
            bad = {"type": "batch", "instrument": "ES 03-24", "seq": n + 4,
                   "ticks": [{"t": last_t, "price": 4800.1, "size": 1}]}  # fmt: skip
            ws.send(json.dumps(bad))
            msgs.append(json.loads(ws.recv()))  # the error
            gap = msgspec.structs.replace(batches[-1], seq=n + 10)
            ws.send(msgspec.json.encode(gap).decode())
            msgs.append(json.loads(ws.recv()))
            msgs.append(json.loads(ws.recv()))  # the ack and the snapshot request
    finally:
        server.stop()
    points.append((n, analytics, rest_state))
    return {"msgs": msgs, "n": n, "analytics": analytics, "rest_state": rest_state,
            "points": points}  # fmt: skip


def test_the_acks_carry_what_the_analytics_say_at_the_same_point():
    f = fed()
    acks = f["msgs"][1 : f["n"] + 1]
    assert all(a["type"] == "ack" for a in acks) and acks[-1]["seq"] == f["n"]
    points = f["points"]
    assert [seq for seq, _, _ in points][-1] == f["n"] and len(points) == 2
    for seq, an, rest in points:
        model = Model()
        for a in acks[:seq]:
            model.take(a)
        same_point(acks[seq - 1], model, an, rest)
    # at the first point the book had liquidity clusters, at the end volume clusters
    kinds = [{c["kind"] for c in r["clusters"]["items"]} for _, _, r in points]
    assert "liquidity" in kinds[0] and "volume" in kinds[1]
    assert points[1][1]["profile"] is not None
    state = f["msgs"][f["n"] + 1]  # the state answer, right after the feed
    assert state["type"] == "state" and state["instrument"] == "ESH4"
    rest = f["rest_state"]
    assert {k: state[k] for k in ("metrics", "clusters", "profile")} == {
        k: rest[k] for k in ("metrics", "clusters", "profile")
    }


def same_point(last: dict[str, Any], model: Model, an: dict[str, Any], rest: dict[str, Any]):
    """The acks up to ``last`` (assembled in ``model``) against /api/analytics and /api/state
    asked right after ``last``."""
    # bid/ask ratio at the configured depths (1, 5, 10)
    ratios = last["metrics"]["bid_ask_ratio"]
    assert [r["levels"] for r in ratios] == [1, 5, 10]
    assert ratios == an["book"]["bid_ask_ratio"] == rest["metrics"]["bid_ask_ratio"]
    bids, asks = last["book"]["bids"], last["book"]["asks"]
    for r in ratios:
        n = r["levels"]
        want = sum(q for _, q in bids[:n]) / sum(q for _, q in asks[:n])
        assert r["ratio"] == pytest.approx(want)
    # the profile: POC, value area, nodes, volume (none before the first print)
    p = an["profile"]
    if p is None:
        assert model.profile is None and rest["profile"] is None and last["profile"] is None
    else:
        want = {k: p[k] for k in ("poc", "vah", "val", "hvn", "lvn")}
        want["volume"] = p["total"]
        fresh = {k: v for k, v in rest["profile"].items() if k not in ("state", "version")}
        assert fresh == want and want["volume"] == an["session"]["volume"] > 0
        assert model.profile is not None
        # POC and value area: those of this point, always (a move of them is read at once)
        assert [model.profile[k] for k in ("poc", "vah", "val")] == [
            want[k] for k in ("poc", "vah", "val")
        ]
        assert 0 < model.profile["volume"] <= want["volume"]  # as of the last read
        if model.profile_version == rest["profile"]["version"]:  # no read since: exact
            assert model.profile == want
    # the clusters: the fresh state against the analytics (their top 5 of each kind)
    items = rest["clusters"]["items"]
    assert items
    liq = [c for c in items if c["kind"] == "liquidity"]
    vol = [c for c in items if c["kind"] == "volume"]
    top_liq = sorted(liq, key=lambda c: -c["size"])[:5]
    assert [(c["side"], c["low"], c["high"], c["size"]) for c in top_liq] == [
        (c["side"], c["low"], c["high"], c["size"]) for c in an["liquidity_clusters"]
    ]
    top_vol = sorted(vol, key=lambda c: -c["size"])[:5]
    assert [(c["low"], c["high"], c["size"], c["side"]) for c in top_vol] == [
        (c["low"], c["high"], c["volume"], c["aggressor"]) for c in an["volume_clusters"]
    ]
    for mine, theirs in [*zip(top_liq, an["liquidity_clusters"], strict=True),
                         *zip(top_vol, an["volume_clusters"], strict=True)]:  # fmt: skip
        assert mine["strength"] == pytest.approx(strength01(theirs["strength"]), abs=1e-3)
        assert 0 <= mine["strength"] < 1
        assert mine["first_seen_ns"] <= mine["last_seen_ns"]
        assert mine["orders"] is None  # NinjaTrader's ladder counts no orders
    # what the acks said: the same clusters, each strength in the same step (a boundary may
    # round either way), exactly the state when no read came since the last full answer
    assert rest["type"] == "state" and rest["clusters"]["state"] == "full"
    fresh_by_id = {c["id"]: c for c in items}

    def ident(c: dict[str, Any]) -> tuple[Any, ...]:
        return (c["kind"], c["side"], c["low"], c["high"], c["first_seen_ns"])

    assert {k: ident(c) for k, c in model.clusters.items()} == {
        k: ident(c) for k, c in fresh_by_id.items()
    }
    for k, c in model.clusters.items():
        assert abs(c["strength"] - fresh_by_id[k]["strength"]) <= STEP + 1e-3
        assert c["last_seen_ns"] <= fresh_by_id[k]["last_seen_ns"]
    if model.cluster_version == rest["clusters"]["version"]:
        assert fresh_by_id == model.clusters


def test_cluster_ids_are_stable_and_unchanged_is_sent_when_nothing_changed():
    f = fed()
    acks = [m for m in f["msgs"] if m["type"] == "ack"]
    feed = acks[: f["n"]]
    assert feed[0]["clusters"]["state"] == "full"  # the first answer after the hello
    identity: dict[str, tuple[Any, ...]] = {}
    lives: dict[str, int] = {}
    for a in feed:
        for c in a["clusters"]["items"] or []:
            key = (c["kind"], c["side"] if c["kind"] == "liquidity" else None, c["low"],
                   c["high"], c["first_seen_ns"])  # fmt: skip
            assert identity.setdefault(c["id"], key) == key, c["id"]  # one cluster per id
            lives[c["id"]] = lives.get(c["id"], 0) + 1
            assert c["id"].startswith("liq-" + c["side"] if c["kind"] == "liquidity" else "vol-")
    by_key = {}
    for cid, key in identity.items():  # and one id per cluster
        assert by_key.setdefault(key, cid) == cid
    assert max(lives.values()) > 100  # a cluster kept its id across a hundred answers
    versions = [a["clusters"]["version"] for a in feed]
    assert versions == sorted(versions)
    # the profile does not change in a batch without prints: unchanged, values null
    unchanged = [
        a["profile"] for a in feed if a["profile"] and a["profile"]["state"] == "unchanged"
    ]
    assert unchanged and all(p["poc"] is None and p["hvn"] is None for p in unchanged)
    # after the state request: full again; then bars only (nothing changed): unchanged
    after = acks[f["n"] : f["n"] + 4]
    assert [a["clusters"]["state"] for a in after] == ["full", "unchanged", "unchanged",
                                                       "unchanged"]  # fmt: skip
    assert [a["profile"]["state"] for a in after] == ["full", "unchanged", "unchanged",
                                                      "unchanged"]  # fmt: skip
    assert after[-1]["duplicate"] is True
    # the state requests read the trackers (what moved since the last read): that version
    version = f["rest_state"]["clusters"]["version"]
    assert {a["clusters"]["version"] for a in after} == {version}
    assert version >= feed[-1]["clusters"]["version"]
    assert after[0]["clusters"]["items"] == f["rest_state"]["clusters"]["items"]


def _on_grid(x: float) -> bool:
    return Decimal(repr(x)) % TICK == 0


def _walk(node: Any, key: str, out: list[tuple[str, Any]]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _walk(v, k, out)
    elif isinstance(node, list):
        for v in node:
            _walk(v, key, out)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out.append((key, node))


def test_every_price_of_every_message_kind_is_in_exchange_units_on_the_grid():
    f = fed()
    msgs = f["msgs"]
    kinds = {m["type"] for m in msgs}
    assert kinds >= {"welcome", "ack", "state", "command", "error", "snapshot_request"}
    lo, hi = 4700.0, 4900.0  # ESH4 on 2023-12-25: about 4800
    tick_lo, tick_hi = ES.to_ticks(lo), ES.to_ticks(hi)
    checked = {kind: 0 for kind in kinds}
    for m in msgs:
        values: list[tuple[str, Any]] = []
        for k, v in m.items():
            if k == "book":  # rows [price, size]
                for row in v["bids"] + v["asks"]:
                    values.append(("price", row[0]))
                    values.append(("size", row[1]))
            else:
                _walk(v, k, values)
        for key, x in values:
            if key in GRID:
                if key == "spread" or x == 0.0:  # a spread is a distance; 0: unused price
                    assert _on_grid(x), (m["type"], key, x)
                    continue
                assert lo <= x <= hi and _on_grid(x), (m["type"], key, x)
                checked[m["type"]] += 1
            elif key in LEVEL:
                assert lo <= x <= hi, (m["type"], key, x)
            elif isinstance(x, int) and key not in COUNTS and not key.endswith("_ns"):
                # an integer the size of a price in ticks is a price sent in ticks
                assert not tick_lo <= x <= tick_hi, (m["type"], key, x)
            if isinstance(x, float):
                assert math.isfinite(x)
    assert checked["ack"] and checked["state"] and checked["command"]
    # the signals' evidence prices too (ticks before protocol 2)
    ev = [s["evidence"] for a in msgs if a["type"] == "ack" for s in a["signals"]]
    assert ev and all(lo <= e["price"] <= hi for e in ev if "price" in e)


def test_the_python_client_decodes_version_2_answers_and_asks_for_the_state():
    import asyncio

    from orderflow.client import OrderflowClient

    batches, _ = esh4_batches()
    server = Server()

    async def main() -> OrderflowClient:
        async with OrderflowClient(server.ws, "py") as c:
            for b in batches[:60]:
                await c.send_batch(msgspec.structs.replace(b, seq=0))
            await c.drain(10)
            await c.request_state("ES 03-24")
            for _ in range(500):
                if "ESH4" in c.states:
                    break
                await asyncio.sleep(0.01)
            return c

    try:
        c = asyncio.run(main())
    finally:
        server.stop()
    assert c.welcome is not None and c.welcome.protocol == 2
    ack, state = c.last_ack, c.states["ESH4"]
    assert ack is not None and ack.seq == 60 and ack.clusters is not None
    assert ack.metrics["bid_ask_ratio"] == state.metrics["bid_ask_ratio"]
    assert (
        state.clusters["state"] == "full" and state.clusters["version"] == (ack.clusters["version"])
    )
    assert state.profile is not None and state.profile["volume"] > 0
