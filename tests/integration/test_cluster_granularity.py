"""A client's own cluster width (``cluster_granularity`` in its hello, NinjaTrader's cluster
increment), on the real server fed ESH4 over real WebSockets: two clients of different
granularities get different bands of the same instrument's clusters, each band exactly the
server's clusters grouped at that width; a client without it gets the clusters as they are;
a bad value is refused naming the field."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from orderflow.model.instruments import get_instrument
from tests.integration.test_server import Server, esh4_batches

pytestmark = pytest.mark.slow

ES = get_instrument("ESH4")
FEED = 360  # batches: three volume clusters by then (4807, 4809, 4810), one band apart at 8


def _hello(ws: Any, client: str, granularity: int | None) -> dict[str, Any]:
    hello: dict[str, Any] = {"type": "hello", "protocol": 2, "client": client}
    if granularity is not None:
        hello["cluster_granularity"] = granularity
    ws.send(json.dumps(hello))
    return json.loads(ws.recv())


def _state(ws: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": "state_request", "instrument": "ES 03-24"}))
    while True:
        m = json.loads(ws.recv())
        if m["type"] == "state":
            return m


def _banded(clusters: list[dict[str, Any]], g: int) -> list[tuple[Any, ...]]:
    """The server's clusters grouped at ``g`` ticks, computed here: (kind, side, low, high,
    size, strength, first, last) per band, in the wire's order."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for c in clusters:
        side = c["side"] if c["kind"] == "liquidity" else None
        groups[(c["kind"], side, ES.to_ticks(c["low"]) // g)].append(c)
    out = []
    for (kind, side, b), ms in groups.items():
        if kind == "volume":  # the band's own buys and sells are not on the wire: its side
            # follows when its clusters agree (each buy > sell: the sums too)
            sides = {m["side"] for m in ms}
            side = sides.pop() if len(sides) == 1 else None
        high = max(b * g + g - 1, *(ES.to_ticks(m["high"]) for m in ms))
        out.append((kind, side, ES.to_price(b * g), ES.to_price(high), sum(m["size"] for m in ms),
                    max(m["strength"] for m in ms), min(m["first_seen_ns"] for m in ms),
                    max(m["last_seen_ns"] for m in ms)))  # fmt: skip
    return out


def _rows(items: list[dict[str, Any]], sides: bool) -> list[tuple[Any, ...]]:
    return [(c["kind"], c["side"] if sides or c["kind"] == "liquidity" else None, c["low"],
             c["high"], c["size"], c["strength"], c["first_seen_ns"], c["last_seen_ns"])
            for c in items]  # fmt: skip


def test_two_clients_of_different_granularities_get_their_own_bands():
    batches, _ = esh4_batches()
    server = Server()
    try:
        with connect(server.ws, max_size=None) as feeder, \
                connect(server.ws, max_size=None) as chart, \
                connect(server.ws, max_size=None) as plain:  # fmt: skip
            assert _hello(feeder, "nt8", 8)["type"] == "welcome"
            assert _hello(chart, "chart", 16)["type"] == "welcome"
            assert _hello(plain, "plain", None)["type"] == "welcome"
            acks = []
            for b in batches[:FEED]:
                feeder.send(msgspec.json.encode(b).decode())
                acks.append(json.loads(feeder.recv()))
            at8, at16, as_is = _state(feeder), _state(chart), _state(plain)
    finally:
        server.stop()
    clusters = as_is["clusters"]["items"]
    assert len([c for c in clusters if c["kind"] == "volume"]) >= 3
    assert all("-g" not in c["id"] for c in clusters)  # the server's own clusters (4 ticks)
    versions = {s["clusters"]["version"] for s in (at8, at16, as_is)}
    assert len(versions) == 1  # one instrument, one version: only the grouping differs
    for state, g in ((at8, 8), (at16, 16)):
        items = state["clusters"]["items"]
        assert all(f"-g{g}-" in c["id"] for c in items)
        assert all(ES.to_ticks(c["low"]) % g == 0 for c in items)
        assert all(ES.to_ticks(c["high"]) - ES.to_ticks(c["low"]) + 1 >= g for c in items)
        mine = _rows(items, sides=True)
        want = _banded(clusters, g)
        assert [r[:1] + r[2:] for r in mine] == [r[:1] + r[2:] for r in want]
        for r, w in zip(mine, want, strict=True):  # a volume band's side, where it follows
            assert w[1] is None or r[1] == w[1]
        assert sum(c["size"] for c in items) == sum(c["size"] for c in clusters)
    assert _rows(at8["clusters"]["items"], True) != _rows(at16["clusters"]["items"], True)
    assert len(at16["clusters"]["items"]) < len(at8["clusters"]["items"]) <= len(clusters)
    # the feeder's acks carry its bands too, with ids stable while a band lives
    full = [a["clusters"]["items"] for a in acks if a["clusters"]["state"] == "full"]
    assert full and all("-g8-" in c["id"] for items in full for c in items)
    life: dict[str, tuple[Any, ...]] = {}
    for items in full:
        for c in items:
            key = (c["kind"], c["side"] if c["kind"] == "liquidity" else None, c["low"])
            assert life.setdefault(c["id"], key) == key


@pytest.mark.parametrize("bad", [0, -4, 1001, "8", 2.5, True])
def test_a_bad_cluster_granularity_is_refused_naming_the_field(bad):
    server = Server()
    try:
        with connect(server.ws) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 2, "client": "nt8",
                                "cluster_granularity": bad}))  # fmt: skip
            err = json.loads(ws.recv())
            assert err["type"] == "error" and err["field"] == "cluster_granularity", err
            assert "cluster_granularity" in err["reason"]
            with pytest.raises(ConnectionClosed):
                ws.recv()
    finally:
        server.stop()


def test_the_python_client_asks_for_its_granularity_and_refuses_a_bad_one():
    import asyncio

    from orderflow.client import OrderflowClient
    from orderflow.core.errors import ParameterError

    for bad in (0, 1001, True, 2.5):
        with pytest.raises(ParameterError, match="cluster_granularity"):
            OrderflowClient("ws://127.0.0.1:9/ws", "py", cluster_granularity=bad)  # type: ignore[arg-type]
    batches, _ = esh4_batches()
    server = Server()

    async def main() -> OrderflowClient:
        async with OrderflowClient(server.ws, "py", cluster_granularity=16) as c:
            for b in batches[:FEED]:
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
    items = c.states["ESH4"].clusters["items"]
    assert items and all("-g16-" in i["id"] and ES.to_ticks(i["low"]) % 16 == 0 for i in items)
