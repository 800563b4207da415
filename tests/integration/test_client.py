"""The Python client and file feeder against the real server (uvicorn on a loopback port, a real
WebSocket): the ESH4 recording fed as NinjaTrader would send it ends with the L3 book's top 10
and CME's cumulative delta, over JSON, MessagePack and REST; a connection killed mid-stream is
recovered from the welcome's ``last_seq`` without a gap; pacing follows event time / speed."""

from __future__ import annotations

import asyncio
import time

import pytest

from orderflow.client import FeedBatch, OrderflowClient, build_batches, feed_file
from orderflow.client.feed import feed_batches, nt_name
from orderflow.io.formats import load_stream
from orderflow.model.instruments import get_instrument
from orderflow.protocol import Ack, Batch, Depth, Error
from tests.conftest import ES_MBO, need
from tests.integration.test_server import Server, esh4_batches
from tests.serving import http


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


def feed_batches_of_esh4() -> list[FeedBatch]:
    return build_batches(load_stream(need(ES_MBO)))


def final_top() -> tuple[list, list]:
    return esh4_batches()[1][-1]


def test_the_feeder_builds_the_same_batches_as_the_server_tests():
    batches, _ = esh4_batches()
    assert [fb.batch for fb in feed_batches_of_esh4()] == batches


def test_nt_names():
    assert nt_name(get_instrument("ESH4"), 1703541600180087113) == "ES 03-24"
    assert nt_name(get_instrument("NQZ25")) == "NQ 12-25"
    assert nt_name(get_instrument("ES")) == "ES"


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["json", "msgpack", "msgpack+columns", "msgpack+packed",
                                      "json+packed"])  # fmt: skip
def test_websocket_feed_ends_with_the_l3_book(server, encoding):
    form = encoding.partition("+")[2] or "rows"
    summary = feed_file(need(ES_MBO), server.ws, speed=None, encoding=encoding.split("+")[0],
                        columns=form)  # fmt: skip
    batches, _ = esh4_batches()
    assert summary.batches == summary.acks == len(batches)
    assert summary.events == sum(len(b.depth) + len(b.ticks) for b in batches)
    assert (summary.duplicates, summary.errors, summary.snapshot_requests) == (0, 0, 0)
    assert (summary.book["bids"], summary.book["asks"]) == final_top()
    assert summary.metrics["cumulative_delta"] == 840  # CME's +796, and the 44-lot opening buy
    assert summary.signals > 0
    assert summary.last_ack is not None and summary.last_ack.seq == len(batches)
    # fed as fast as possible, some batches were applied together (one ack for a run; how many
    # depends on timing): the end state is the L3 book's all the same
    health = http().get(f"{server.http}/health").json()
    assert health["instruments"]["ESH4"]["stale"] is False
    assert "gaps" not in health["counters"]


@pytest.mark.slow
def test_rest_feed_gives_the_same_answer(server):
    summary = feed_file(need(ES_MBO), server.http, speed=None, transport="rest")
    assert summary.acks == len(esh4_batches()[0]) and summary.errors == 0
    assert (summary.book["bids"], summary.book["asks"]) == final_top()
    assert summary.metrics["cumulative_delta"] == 840


@pytest.mark.slow
def test_a_connection_killed_mid_stream_is_resumed_without_a_gap(server):
    batches, _ = esh4_batches()
    acks: list[Ack] = []
    kill_at = (100, 250)

    async def run() -> OrderflowClient:
        client = OrderflowClient(server.ws, "faulty", encoding="msgpack", on_ack=acks.append,
                                 backoff=(0.02, 0.2))  # fmt: skip
        async with client:
            for i, b in enumerate(batches, 1):
                await client.send_batch(b)
                if i in kill_at:  # batches in flight, acks on the way: all lost
                    assert client.connection is not None
                    client.connection.transport.abort()
            await client.drain(timeout=30)
        return client

    client = asyncio.run(run())
    assert client.stats.connects == 1 + len(kill_at)
    # what was in flight at each kill: skipped when the welcome said applied, else resent
    assert client.stats.resent + client.stats.skipped > 0
    assert client.next_seq == len(batches) + 1 and client.unacked == 0
    applied = [a.seq for a in acks if not a.duplicate]
    assert applied == sorted(set(applied)) and applied[-1] == len(batches)
    assert client.last_ack is not None
    assert (client.last_ack.book["bids"], client.last_ack.book["asks"]) == final_top()
    assert client.last_ack.metrics["cumulative_delta"] == 840
    health = http().get(f"{server.http}/health").json()
    assert "gaps" not in health["counters"]
    es = health["instruments"]["ESH4"]
    assert es["stale"] is False and es["batches"] == len(batches)
    assert es["depth_events"] == sum(len(b.depth) for b in batches)
    book = http().get(f"{server.http}/api/book/ES 03-24").json()
    bids, asks = final_top()
    assert [[r["price"], r["size"]] for r in book["bid"]] == bids
    assert [[r["price"], r["size"]] for r in book["ask"]] == asks


@pytest.mark.slow
def test_a_restarted_feeder_resends_from_one_and_the_server_counts_duplicates(server):
    """A feeder stopped half way and started again from the start under the same name: the
    server applies each batch once, answers ``duplicate`` for the rest, and sees no gap."""
    fbs = feed_batches_of_esh4()
    half = len(fbs) // 2

    async def first_half() -> None:
        client = OrderflowClient(server.ws, "restart")
        await client.connect()
        for fb in fbs[:half]:
            await client.send_batch(fb.batch)
        await client.drain(timeout=30)
        assert client.connection is not None
        client.connection.transport.abort()  # the process dies: no bye
        await client.close()

    asyncio.run(first_half())
    summary = asyncio.run(feed_batches(fbs, server.ws, client="restart"))
    assert summary.duplicates == half and summary.acks == len(fbs)
    assert (summary.book["bids"], summary.book["asks"]) == final_top()
    health = http().get(f"{server.http}/health").json()
    assert health["counters"]["duplicates"] == half and "gaps" not in health["counters"]
    metrics = http().get(f"{server.http}/metrics").text
    assert f"orderflow_duplicate_batches_total {half}.0" in metrics


T0 = 1_703_545_200_000_000_000  # 2023-12-25 23:00 UTC


def test_a_resumed_client_numbers_on_and_errors_come_back(server):
    """A fresh client object with a known name continues after the server's ``last_seq``;
    a refused batch comes back as an error (to the callback and the iterator)."""
    good = Batch(instrument="ES 03-24", depth=[Depth(T0 + 1, "bid", "add", 0, 4810.25, 7)])
    more = Batch(instrument="ES 03-24", depth=[Depth(T0 + 2, "bid", "update", 0, 4810.25, 9)])
    bad = Batch(instrument="ES 03-24", depth=[Depth(T0 + 3, "bid", "add", 0, 4810.3, 1)])
    errors: list[Error] = []

    async def run() -> list[object]:
        async with OrderflowClient(server.ws, "resumer") as c:
            assert await c.send_batch(good) == 1
            await c.drain(timeout=5)
        async with OrderflowClient(server.ws, "resumer", on_error=errors.append) as c:
            assert c.welcome is not None and c.welcome.last_seq == 1
            seen: list[object] = []

            async def collect() -> None:
                async for msg in c.messages():
                    seen.append(msg)

            task = asyncio.create_task(collect())
            await asyncio.sleep(0)
            assert await c.send_batch(more) == 2
            assert await c.send_batch(bad) == 3
            await c.drain(timeout=5)
            assert c.last_ack is not None and c.last_ack.seq == 2
            assert c.last_ack.book["bids"] == [[4810.25, 9]]
        await asyncio.wait_for(task, 5)
        return seen

    seen = asyncio.run(run())
    # the client sends depth as packed columns by default: the refusal names that column
    assert len(errors) == 1 and errors[0].seq == 3 and errors[0].field == "columns.price[0]"
    assert [type(m).__name__ for m in seen][:2] == ["Ack", "Error"]
    # the refused batch's depth is lost: the ladder asks for a snapshot right after the error
    # (it may still be on the way when the client closes)
    assert [(type(m).__name__, m.reason) for m in seen[2:]] in ([], [("SnapshotRequest",
                                                                    "refused")])  # fmt: skip


def test_queued_events_go_out_in_batches_by_count_and_time(server):
    events = [Depth(T0 + i + 1, "bid", "add" if i == 0 else "update", 0, 4810.25, i + 1)
              for i in range(25)]  # fmt: skip
    acks: list[Ack] = []

    async def run() -> None:
        async with OrderflowClient(server.ws, "queue", batch_events=10, batch_delay=0.05,
                                   on_ack=acks.append) as c:  # fmt: skip
            for e in events:
                await c.add("ES 03-24", [e])
            await asyncio.sleep(0.3)  # the last 5 go out on the timer
            await c.drain(timeout=5)

    asyncio.run(run())
    assert [a.applied["depth"] for a in acks] == [10, 10, 5]
    assert acks[-1].book["bids"] == [[4810.25, 25]]


def test_a_refused_hello_raises():
    s = Server(token="s3cret")
    try:
        from orderflow.client import ClientError

        async def run() -> None:
            async with OrderflowClient(s.ws, "x", token="nope"):
                pass

        with pytest.raises(ClientError, match="token"):
            asyncio.run(run())

        async def ok() -> int:
            async with OrderflowClient(s.ws, "x", token="s3cret") as c:
                assert c.welcome is not None
                return c.welcome.last_seq

        assert asyncio.run(ok()) == 0
    finally:
        s.stop()


def test_pacing_follows_event_time_over_speed(server):
    """Two seconds of event time around the open at speed 4 take about half a second (the
    batches before the window go as fast as possible and build the book)."""
    fbs = feed_batches_of_esh4()
    t0 = time.perf_counter()
    summary = asyncio.run(
        feed_batches(fbs, server.ws, speed=4.0, start_s=3599.0, duration_s=2.0, client="paced")
    )
    wall = time.perf_counter() - t0
    assert 0.3 < summary.paced_s < 2.0
    assert wall < 10
    assert summary.errors == 0 and summary.acks == summary.batches > 0


@pytest.mark.slow
def test_a_ninjatrader_depth_dump_is_sent_as_is(server, tmp_path):
    """ESH4's depth events written as a DumpMarketDepth file and fed back: the same book."""
    from orderflow.io.dbn import read_mbo
    from orderflow.io.ninjatrader import write_depth_dump
    from orderflow.io.nt_convert import mbo_to_nt_depth

    mbo, inst = read_mbo(need(ES_MBO))
    events = mbo_to_nt_depth(mbo, levels=10, instrument=inst)
    path = tmp_path / "ES 03-24.txt"  # NinjaTrader names dumps after the instrument
    write_depth_dump(path, events, inst, tz="UTC")
    summary = feed_file(path, server.ws, speed=None, encoding="msgpack")
    assert summary.events == len(events) and summary.errors == 0
    assert (summary.book["bids"], summary.book["asks"]) == final_top()
