"""A request/response client's batches are applied by the session's reader itself (no hop to
the session's loop), a pipelining client's still go through the loop and are coalesced, and
the commands a batch made the strategy issue still reach the client before that batch's ack,
with the view and the alert checks before the ack or after it (``server.work_after_ack``):
real uvicorn on 127.0.0.1, real WebSocket clients, ESH4 as the bridge sends it."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from websockets.sync.client import connect

from orderflow.protocol import Batch
from orderflow.server.hub import Hub
from orderflow.server.state import ServerState
from orderflow.trading.params import ServerTradingParams, TradingParams
from tests.integration.test_server import Server, esh4_batches
from tests.serving import until

pytestmark = pytest.mark.slow


def state_of(s: Server) -> ServerState:
    state: ServerState = s.app.state.server
    return state


def hello(ws: Any, client: str) -> None:
    ws.send(json.dumps({"type": "hello", "protocol": 2, "client": client,
                        "encoding": "msgpack"}))  # fmt: skip
    assert msgspec.msgpack.decode(ws.recv(timeout=30))["type"] == "welcome"


def renamed(batches: list[Batch], instrument: str) -> list[Batch]:
    return [msgspec.structs.replace(b, instrument=instrument) for b in batches]


@pytest.mark.parametrize("work_after_ack", [False, True])
def test_lone_batches_skip_the_hop_and_pipelined_ones_are_still_coalesced(work_after_ack):
    batches = esh4_batches()[0][:150]
    s = Server(work_after_ack=work_after_ack)
    try:
        with connect(s.ws, compression=None, max_size=None) as ws:
            hello(ws, "lone")
            sched = state_of(s).scheduler
            granted = sched.stats.granted
            for b in batches[:40]:  # one at a time, each ack read before the next batch
                ws.send(msgspec.msgpack.encode(b))
                msg = msgspec.msgpack.decode(ws.recv(timeout=30))
                while msg["type"] == "heartbeat":
                    msg = msgspec.msgpack.decode(ws.recv(timeout=30))
                assert (msg["type"], msg["seq"], msg["first_seq"]) == ("ack", b.seq, b.seq)
            lone = state_of(s).conns["lone"]
            assert lone.lone == 40  # every batch applied by the reader
            # in the engine turn that decoded it (one turn a batch, not two), and the queue
            # budget it was admitted with given back
            assert sched.stats.granted - granted == 40
            # given back at the turn's end, which with the work after the ack may come just
            # after the last ack reached us
            assert until(lambda: (sched.queued_events, sched.queued_clients) == (0, 0),
                         timeout_s=10.0, every_s=0.005)  # fmt: skip
            assert sched._ns_per_event[lone] > 0  # its turns charged
            assert state_of(s).hub.counters["coalesced"] == 0
        with connect(s.ws, compression=None, max_size=None) as ws:
            hello(ws, "piped")
            for b in renamed(batches, "MES 03-24"):  # every batch before any answer is read
                ws.send(msgspec.msgpack.encode(b))
            covered: list[int] = []
            while not covered or covered[-1] != batches[-1].seq:
                msg = msgspec.msgpack.decode(ws.recv(timeout=30))
                if msg["type"] == "heartbeat":
                    continue
                assert msg["type"] == "ack", msg
                covered += range(msg["first_seq"], msg["seq"] + 1)
            assert covered == [b.seq for b in batches]  # each once, in order
            piped = state_of(s).conns["piped"]
            coalesced = state_of(s).hub.counters["coalesced"]
            assert coalesced > 0  # runs went through the loop together
            assert piped.lone + coalesced <= len(batches)
    finally:
        s.stop()


def _trading() -> dict[str, Any]:
    return {"trading": TradingParams(),
            "trading_server": ServerTradingParams(use_sessions=False, strategy=True,
                                                  clock="data")}  # fmt: skip


def _order(c: dict[str, Any]) -> tuple[Any, ...]:
    return (c["op"], c["cid"], c.get("action"), c.get("order_type"), c.get("quantity"))


@pytest.mark.parametrize("work_after_ack", [False, True])
def test_the_commands_a_batch_caused_arrive_before_its_ack(work_after_ack):
    """The strategy decides on the server after each batch; on a real socket, one batch at a
    time, the commands each batch caused arrive after the previous ack and before its own,
    the very commands an in-process hub issues at the same batches."""
    batches = esh4_batches()[0][:200]
    ref = Hub(**_trading())
    want: dict[int, list[tuple[Any, ...]]] = {}
    for b in batches:
        ref.apply(b, "nt8")
        out, ref.trading.outbox = ref.trading.outbox, []
        cmds = [_order(msgspec.to_builtins(c)) for _, c in out]
        if cmds:
            want[b.seq] = cmds
    assert sum(len(c) for c in want.values()) >= 2  # the strategy did trade on these batches
    s = Server(**_trading(), work_after_ack=work_after_ack)
    try:
        with connect(s.ws, compression=None, max_size=None) as ws:
            hello(ws, "nt8")
            got: dict[int, list[tuple[Any, ...]]] = {}
            for b in batches:
                ws.send(msgspec.msgpack.encode(b))
                seen: list[tuple[Any, ...]] = []
                while (msg := msgspec.msgpack.decode(ws.recv(timeout=30)))["type"] != "ack":
                    if msg["type"] == "command":
                        seen.append(_order(msg))
                assert msg["seq"] == b.seq
                if seen:
                    got[b.seq] = seen
            assert got == want
            assert state_of(s).conns["nt8"].lone == len(batches)
    finally:
        s.stop()
