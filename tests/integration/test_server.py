"""The real server (uvicorn on 127.0.0.1) fed the ESH4 recording as NinjaTrader depth events
and prints, over a real WebSocket and over REST: the book it answers with equals the L3 book's
top 10 at every batch, and its metrics and signals equal an in-process replay of the same
batches. Bad input gets a 4xx naming the field and changes nothing."""

from __future__ import annotations

import json
import time
from functools import cache

import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from orderflow.book.l3 import OrderBook
from orderflow.io.nt_convert import mbo_to_nt_depth
from orderflow.model.dtypes import NO_PRICE
from orderflow.model.enums import NtOperation
from orderflow.protocol import Batch, Depth
from orderflow.server.app import create_app
from orderflow.server.hub import Hub
from orderflow.server.threaded import ThreadedServer
from tests.conftest import ES_MBO, need

pytestmark = pytest.mark.slow

OPS = {int(NtOperation.ADD): "add", int(NtOperation.UPDATE): "update",
       int(NtOperation.REMOVE): "remove"}  # fmt: skip
BATCH_EVENTS = 100


class Server(ThreadedServer):
    """The real application (``create_app(**kwargs)``) in a thread on a free loopback port."""

    def __init__(self, **kwargs) -> None:
        super().__init__(create_app(**kwargs))


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@cache
def esh4_batches() -> tuple[list[Batch], list[tuple[list, list]]]:
    """ESH4 as the bridge would send it (``orderflow.client.feed.build_batches``: NinjaTrader
    depth events, top 10, in batches of about 100 events ending at exchange event boundaries,
    the prints with the quote before them); and for each batch the L3 book's top 10 at its last
    boundary (prices in exchange units), computed here from the MBO records."""
    from orderflow.client.feed import build_batches
    from orderflow.io.formats import load_stream

    stream = load_stream(need(ES_MBO))
    batches = [fb.batch for fb in build_batches(stream, 10, BATCH_EVENTS)]
    mbo, inst = stream.array, stream.instrument
    depth = OrderBook(inst).apply_mbo(mbo, record_depth=10).depth
    px = inst.to_price
    tops = []
    for b in batches:
        r = int(np.searchsorted(depth.ts_event, b.depth[-1].t, side="right")) - 1
        tops.append(
            tuple(
                [[px(int(p)), int(q)] for p, q in zip(prices[r], sizes[r], strict=True)
                 if p != NO_PRICE]
                for prices, sizes in ((depth.bid_price, depth.bid_size),
                                      (depth.ask_price, depth.ask_size))
            )
        )  # fmt: skip
    assert sum(len(b.depth) for b in batches) == len(mbo_to_nt_depth(mbo, 10, inst))
    return batches, tops


def comparable(ack: dict) -> dict:
    return {k: v for k, v in ack.items() if k != "processing_us"}


@cache
def in_process_acks() -> list[dict]:
    import msgspec

    hub = Hub()
    return [comparable(msgspec.to_builtins(hub.apply(b, "nt8")[0])) for b in esh4_batches()[0]]


def test_websocket_feed_equals_the_l3_book_and_an_in_process_replay(server):
    import msgspec

    batches, tops = esh4_batches()
    acks = []
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
        welcome = json.loads(ws.recv())
        assert welcome["type"] == "welcome" and welcome["last_seq"] == 0
        for b in batches:
            ws.send(msgspec.json.encode(b).decode())
            acks.append(json.loads(ws.recv()))
    assert len(acks) == len(batches) > 400
    for ack, (bids, asks), b in zip(acks, tops, batches, strict=True):
        assert ack["type"] == "ack" and ack["seq"] == b.seq and not ack["duplicate"]
        assert (ack["book"]["bids"], ack["book"]["asks"]) == (bids, asks), b.seq
        assert ack["rejected"] == {} and not ack["stale"]
    assert [comparable(a) for a in acks] == in_process_acks()
    # CME's aggressors sum to +796; the 44-lot opening print has none, and the bid/ask rule
    # (what NinjaTrader prints get) makes it a buy
    assert acks[-1]["metrics"]["cumulative_delta"] == 796 + 44
    assert sum(len(a["signals"]) for a in acks) > 0
    health = httpx.get(f"{server.http}/health").json()
    es = health["instruments"]["ESH4"]
    assert es["stale"] is False and es["depth_events"] == sum(len(b.depth) for b in batches)


def test_rest_feed_gives_the_same_answers(server):
    import msgspec

    batches, _ = esh4_batches()
    with httpx.Client(base_url=server.http) as client:
        acks = [client.post("/l2_update", content=msgspec.json.encode(b)).json()
                for b in batches]  # fmt: skip
    assert [comparable(a) for a in acks] == [
        {**a, "seq": b.seq} for a, b in zip(in_process_acks(), batches, strict=True)
    ]


def test_duplicates_and_gaps_over_websocket(server):
    import msgspec

    batches, _ = esh4_batches()
    with connect(server.ws) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "gappy",
                            "encoding": "msgpack"}))  # fmt: skip
        assert msgspec.msgpack.decode(ws.recv())["last_seq"] == 0
        ws.send(msgspec.msgpack.encode(batches[0]))
        assert msgspec.msgpack.decode(ws.recv())["duplicate"] is False
        ws.send(msgspec.msgpack.encode(batches[0]))  # resent: applied once
        assert msgspec.msgpack.decode(ws.recv())["duplicate"] is True
        ws.send(msgspec.msgpack.encode(batches[2]))  # batch 2 lost on the way
        ack = msgspec.msgpack.decode(ws.recv())
        request = msgspec.msgpack.decode(ws.recv())
        assert ack["stale"] is True
        # the instrument named the client's way (its batches say "ES 03-24")
        assert request == {"type": "snapshot_request", "instrument": "ES 03-24", "reason": "gap",
                           "expected_seq": 2, "got_seq": 3, "attempt": 1,
                           "retry_s": 1.0}  # fmt: skip
    with connect(server.ws) as ws:  # reconnect: the server says where to resume
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "gappy"}))
        assert json.loads(ws.recv())["last_seq"] == 3
    health = httpx.get(f"{server.http}/health").json()
    assert health["alert_counts"]["stale_book"] == 1
    stale = [a for a in health["alerts"] if a["kind"] == "stale_book"]
    assert stale[0]["detail"] == "sequence gap: expected 2, got 3"
    assert "crossed_book" not in health["alert_counts"]  # crossed, but in the pre-open
    assert health["instruments"]["ESH4"]["stale"] is True
    metrics = httpx.get(f"{server.http}/metrics").text
    assert "orderflow_sequence_gaps_total 1.0" in metrics
    assert "orderflow_duplicate_batches_total 1.0" in metrics
    assert 'orderflow_book_stale{instrument="ESH4"} 1.0' in metrics
    assert 'orderflow_batches_total{transport="websocket"} 3.0' in metrics


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "message"),
        (b'{"instrument": "ES 03-24", "depth": [{"t": 1703545200000000001, "side": "up",'
         b' "op": "add", "pos": 0, "price": 4810.25, "size": 1}]}', "depth[0].side"),
        (b'{"instrument": "ES 03-24", "depth": [{"t": 1703545200000000001, "side": "bid",'
         b' "op": "add", "pos": 0, "price": 4810.3, "size": 1}]}', "depth[0].price"),
        (b'{"instrument": "ZZ 03-24"}', "instrument"),
        (b'{"instrument": "ES 03-24", "ticks": [{"t": 1703545200000000001, "price": 1.0,'
         b' "size": 0}]}', "ticks[0].size"),
    ],
)  # fmt: skip
def test_bad_requests_name_the_field_and_change_nothing(server, body, field):
    good = b'{"instrument": "ES 03-24", "depth": [{"t": 1703545200000000001, "side": "bid", "op": "add", "pos": 0, "price": 4810.25, "size": 7}]}'  # noqa: E501
    with httpx.Client(base_url=server.http) as client:
        assert client.post("/l2_update", content=good).status_code == 200
        bad = client.post("/l2_update", content=body)
        assert 400 <= bad.status_code < 500
        assert bad.json()["error"]["details"]["field"] == field
        assert "Traceback" not in bad.text
        book = client.get("/api/book/ES 03-24").json()
        assert book["bid"] == [{"price": 4810.25, "size": 7}]


def test_a_token_is_required_when_set():
    s = Server(token="s3cret")
    try:
        body = b'{"instrument": "ES 03-24"}'
        with httpx.Client(base_url=s.http) as client:
            assert client.post("/l2_update", content=body).status_code == 401
            ok = client.post("/l2_update", content=body, headers={"x-orderflow-token": "s3cret"})
            assert ok.status_code == 200
        with connect(s.ws) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "x", "token": "nope"}))
            err = json.loads(ws.recv())
            assert (err["type"], err["field"], err["code"]) == ("error", "token", "unauthorised")
        with connect(s.ws) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "x", "token": "s3cret"}))
            assert json.loads(ws.recv())["type"] == "welcome"
    finally:
        s.stop()


def test_websocket_errors_keep_the_connection(server):
    with connect(server.ws) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "typo"}))
        ws.recv()
        ws.send('{"type": "batch", "instrument": "ES 03-24", "depth": [{"t": 1}]}')
        err = json.loads(ws.recv())
        assert err["type"] == "error" and err["field"].startswith("depth[0]")
        ws.send(json.dumps({"type": "heartbeat", "t": 5}))
        assert json.loads(ws.recv()) == {"type": "heartbeat", "t": 5}


def test_a_refused_batch_uses_its_seq_and_makes_the_ladder_stale(server):
    batches, _ = esh4_batches()
    bad = batches[1].depth[0]
    broken = Batch(instrument="ES 03-24", seq=2,
                   depth=[Depth(bad.t, bad.side, "add", 0, 4810.3, 1)])  # fmt: skip
    with connect(server.ws) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "refused"}))
        ws.recv()
        requests = []
        for b in (batches[0], broken, Batch(instrument="ES 03-24", seq=3, ticks=[])):
            ws.send(msgspec_json(b))
            answers = [json.loads(ws.recv())]
            while answers[0]["type"] == "snapshot_request":  # the stale ladder asks at once
                requests.append(answers[0])
                answers = [json.loads(ws.recv())]
            if answers[0]["type"] == "ack" and answers[0].get("stale") and b.seq == 3:
                break
        assert [(r["reason"], r["expected_seq"], r["attempt"]) for r in requests][:1] == [
            ("refused", 2, 1)]  # fmt: skip
        assert answers[0]["type"] == "ack" and answers[0]["seq"] == 3
        assert answers[0]["stale"] is True and not answers[0]["duplicate"]
    health = httpx.get(f"{server.http}/health").json()
    assert health["instruments"]["ESH4"]["stale_reason"] == "refused"
    assert "gaps" not in health["counters"]


def msgspec_json(b: Batch) -> str:
    import msgspec

    return msgspec.json.encode(b).decode()


def test_permessage_deflate_is_negotiated(server):
    with connect(server.ws) as ws:  # the client offers compression, as the bridge may
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "zip"}))
        assert json.loads(ws.recv())["type"] == "welcome"


def test_the_dashboards_stream_is_never_compressed(server):
    """The viewer stream refuses per-message deflate even when the client (a browser always)
    offers it: compressing each viewer's frames held the event loop the bridge's acks need;
    the bridge's own socket still negotiates it."""
    import msgspec

    batches, _ = esh4_batches()
    with connect(server.ws) as ws:
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "nt8"}))
        ws.recv()
        ws.send(msgspec.json.encode(batches[0]).decode())  # the instrument exists from now on
        ws.recv()
        name = batches[0].instrument
    from urllib.parse import quote

    with connect(f"{server.ws}/view?instrument={quote(name)}") as view:
        assert json.loads(view.recv())["type"] == "snapshot"
        assert view.protocol.extensions == []


def test_a_client_that_stops_reading_does_not_stall_the_others(server):
    """One client pushes batches and never reads its acks (its socket buffers fill and its
    handler waits); another client meanwhile gets every answer."""
    import msgspec

    batches, _ = esh4_batches()
    with connect(server.ws, max_size=None, close_timeout=0.5) as stalled:
        stalled.send(json.dumps({"type": "hello", "protocol": 1, "client": "stalled"}))
        stalled.recv()
        for b in batches[:200]:
            stalled.send(msgspec.json.encode(b).decode())  # never reads an ack
        t0 = time.perf_counter()
        with connect(server.ws, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "healthy"}))
            ws.recv()
            for i, b in enumerate(batches[:60], start=1):
                mes = msgspec.structs.replace(b, seq=i, instrument="MES 03-24")  # its own ladder
                ws.send(msgspec.json.encode(mes).decode())
                assert json.loads(ws.recv())["seq"] == i
        assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize(("chunk", "form"), [(2, "list"), (7, "list"), (64, "list"),
                                             (7, "columns"), (64, "columns")])  # fmt: skip
def test_batches_applied_together_equal_one_by_one(chunk, form):
    """What a pipelining client gets: runs of consecutive batches go through the pipeline in
    one pass (depth sent as columns: converted in one pass too), answered by one ack
    (first_seq..seq) whose book, metrics and staleness equal the one-by-one ack of its last
    batch, and whose signals and counts are the run's."""
    import msgspec

    from orderflow.protocol import columnar

    batches, _ = esh4_batches()
    if form == "columns":
        batches = [columnar(b) for b in batches]
    one = {a["seq"]: a for a in in_process_acks()}
    hub = Hub()
    acks = []
    for i in range(0, len(batches), chunk):
        for batch, ack, request, error in hub.apply_many(batches[i : i + chunk], "nt8"):
            assert error is None and request is None and ack is not None
            assert ack.seq == batch.seq
            acks.append(comparable(msgspec.to_builtins(ack)))
    assert hub.counters["coalesced"] > len(batches) // 2
    covered = [s for a in acks for s in range(a["first_seq"], a["seq"] + 1)]
    assert covered == [b.seq for b in batches]
    for a in acks:
        last = one[a["seq"]]
        assert (a["book"], a["metrics"], a["stale"]) == (last["book"], last["metrics"], False)
        run = [one[s] for s in range(a["first_seq"], a["seq"] + 1)]
        assert a["signals"] == [s for r in run for s in r["signals"]]
        for kind in ("depth", "ticks", "bars"):
            assert a["applied"][kind] == sum(r["applied"][kind] for r in run)
    assert hub.last_seq["nt8"] == batches[-1].seq


@pytest.mark.parametrize("form", ["list", "columns"])
def test_a_refused_batch_inside_a_run_is_answered_alone_and_the_rest_still_apply(form):
    import msgspec

    from orderflow.protocol import columnar

    batches, _ = esh4_batches()
    run = list(batches[:6])
    bad = run[3].depth[0]
    run[3] = msgspec.structs.replace(
        run[3], depth=[msgspec.structs.replace(bad, price=bad.price + 0.1), *run[3].depth[1:]]
    )
    if form == "columns":
        run = [columnar(b) for b in run]
    hub = Hub()
    got = hub.apply_many(run, "nt8")
    # the first batch creates the instrument (alone), 2-3 go together, 4 is refused, and the
    # ladder is then stale, so 5 and 6 go one by one
    assert [(b.seq, a is not None, e is not None) for b, a, _, e in got] == [
        (1, True, False), (3, True, False), (4, False, True), (5, True, False), (6, True, False)
    ]  # fmt: skip
    field = "depth[0].price" if form == "list" else "columns.price[0]"
    assert got[1][1].first_seq == 2 and got[2][3].details["field"] == field
    assert dict(hub.instruments["ESH4"].rejected) == {"off_tick": 1}  # counted once
    assert hub.last_seq["nt8"] == 6 and hub.instruments["ESH4"].stale_reason == "refused"


def test_depth_as_columns_gives_the_same_answers():
    """The columnar form of every ESH4 batch (MessagePack, as a fast feed sends it) gives the
    acks the list form gives, one by one and applied together; bad columns name the field."""
    import msgspec

    from orderflow.core.errors import RequestError
    from orderflow.protocol import columnar, decode_client

    batches, _ = esh4_batches()
    hub = Hub()
    frames = [msgspec.msgpack.encode(columnar(b)) for b in batches]
    assert sum(map(len, frames)) < 0.6 * sum(len(msgspec.msgpack.encode(b)) for b in batches)
    acks = [comparable(msgspec.to_builtins(hub.apply(decode_client(f), "nt8")[0])) for f in frames]
    assert acks == in_process_acks()
    together = Hub()
    last = together.apply_many([decode_client(f) for f in frames], "nt8")[-1][1]
    assert comparable(msgspec.to_builtins(last))["book"] == acks[-1]["book"]
    b = columnar(batches[5])
    cols = b.columns
    bad = [
        ({**msgspec.to_builtins(cols), "side": "bx"}, "columns.side"),
        ({**msgspec.to_builtins(cols), "size": cols.size[:-1]}, "columns"),
        ({**msgspec.to_builtins(cols), "reset": [len(cols.t)]}, "columns"),
    ]
    for value, field in bad:
        raw = {**msgspec.to_builtins(b), "columns": value}
        with pytest.raises(RequestError) as err:
            decode_client(msgspec.json.encode(raw).decode())
        assert err.value.details["field"] == field, value
    both = {**msgspec.to_builtins(batches[5]), "columns": msgspec.to_builtins(cols)}
    with pytest.raises(RequestError):
        decode_client(msgspec.json.encode(both).decode())
    off = msgspec.structs.replace(cols, price=[cols.price[0] + 0.1, *cols.price[1:]])
    with pytest.raises(RequestError) as err:
        Hub().apply(msgspec.structs.replace(b, columns=off), "x")
    assert err.value.details["field"] == "columns.price[0]"
