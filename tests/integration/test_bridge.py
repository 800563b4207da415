"""The NinjaTrader bridge (C#, bridge/ninjatrader/) built with mono and checked against the
protocol in code: every message the bridge writes must decode with ``decode_client`` exactly as
the server will decode it, with the exact values the bridge was given."""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from orderflow.protocol import (
    Bar,
    Batch,
    Bye,
    Command,
    CommandAck,
    Depth,
    Execution,
    Heartbeat,
    Hello,
    OrderUpdate,
    PositionUpdate,
    Report,
    Tick,
    decode_client,
    encode,
)
from tests.conftest import PROJECT_ROOT
from tests.serving import http

BRIDGE = PROJECT_ROOT / "bridge" / "ninjatrader"
BUILD = BRIDGE / "build"
STRATEGY_DLL = BUILD / "OrderflowStrategy.dll"
SELFTEST_EXE = BUILD / "OrderflowSelfTest.exe"

T0 = 1_703_545_200_000_000_000  # 2023-12-25 18:00 New York = 23:00 UTC, converted by the bridge
ES = "ES 03-24"
NQ = "NQ 12-26"


@pytest.fixture(scope="module")
def build() -> None:
    """Runs build.sh once (the first run may apt-get install mono-mcs: a generous timeout)."""
    proc = subprocess.run(
        ["bash", str(BRIDGE / "build.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"build.sh failed:\n{proc.stdout}\n{proc.stderr}"


#: the last line a finished self-test writes, whatever its mode
DONE = ("all batches acknowledged", "all checks passed")


def run_selftest(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run SelfTest.exe; its stdout lines. Under a loaded machine mono (6.8) has been seen to
    hang in Environment.Exit after the program finished and said so: a run that printed its
    final line and then did not exit within the timeout is taken as finished (and killed)."""
    proc = subprocess.Popen(
        ["mono", str(SELFTEST_EXE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = proc.communicate(timeout=120)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        finished = any(line.strip() in DONE for line in (out + err).splitlines())
        assert finished, f"self-test timed out:\n{out}\n{err}"
        code = 0
    assert code == 0, f"self-test failed:\n{out}\n{err}"
    return out.splitlines()


def expected_messages() -> list[object]:
    """What SelfTest.cs mode (a) was given, as the server's structs."""
    return [
        Hello(protocol=1, client="nt8-ES 03-24", token='s3cr"et\\', encoding="json"),
        Batch(  # sealed by size: 4 events
            instrument=ES,
            seq=1,
            depth=[
                Depth(t=T0, side="bid", op="add", pos=0, price=4810.25, size=22),
                Depth(t=T0 + 1, side="ask", op="add", pos=0, price=4810.5, size=28),
                Depth(t=T0 + 2, side="bid", op="update", pos=0, price=4810.25, size=23),
            ],
            ticks=[Tick(t=T0 + 100_000, price=4810.25, size=3, bid=4810.0, ask=4810.25)],
        ),
        Batch(
            instrument=ES,
            seq=2,
            depth=[
                Depth(t=T0 + 3, side="ask", op="remove", pos=1, price=0.1, size=0),
                Depth(t=T0 + 4, side="bid", op="update", pos=3, price=1e-7, size=5, reset=True),
            ],
            ticks=[Tick(t=T0 + 6, price=4810.5, size=2, bid=None, ask=None)],
            bars=[
                Bar(
                    series=0,
                    t=T0 - 60_000_000_000,
                    open=4810.0,
                    high=4810.5,
                    low=4809.75,
                    close=4810.25,
                    volume=812,
                    closed=True,
                )
            ],
        ),
        Batch(  # sealed by FlushAll
            instrument=NQ,
            seq=3,
            ticks=[Tick(t=T0 + 5, price=18125.25, size=1, bid=18125.0, ask=18125.25)],
            bars=[
                Bar(
                    series=1,
                    t=T0,
                    open=0.1 + 0.2,
                    high=999999999.99999988,  # 17 digits, below the largest price (1e9)
                    low=5e-324,
                    close=18125.25,
                    volume=0,
                    closed=False,
                )
            ],
        ),
        Batch(
            instrument=ES,
            seq=4,
            snapshot=True,
            depth=[
                Depth(t=T0 + 7, side="bid", op="add", pos=0, price=4810.25, size=22),
                Depth(t=T0 + 7, side="bid", op="add", pos=1, price=4810.0, size=40),
                Depth(t=T0 + 7, side="ask", op="add", pos=0, price=4810.5, size=28),
                Depth(t=T0 + 7, side="ask", op="add", pos=1, price=4810.75, size=31),
            ],
        ),
        Batch(  # an order update after an execution starts a new batch: NinjaTrader's order
            instrument=ES,
            seq=5,
            orders=[
                OrderUpdate(t=T0 + 8, cid="m-1", state="Submitted", quantity=2, order_id="stub-1"),
                OrderUpdate(
                    t=T0 + 9,
                    cid="m-1",
                    state="PartFilled",
                    quantity=2,
                    filled=1,
                    avg_fill_price=4810.25,
                    order_id="stub-1",
                    comment='\u00e9 "q"\n',
                ),
            ],
            executions=[
                Execution(
                    t=T0 + 10,
                    cid="m-1",
                    execution_id="x-1",
                    price=4810.25,
                    quantity=1,
                    market_position="Long",
                    order_id="stub-1",
                    commission=0.62,
                )
            ],
            positions=[
                PositionUpdate(
                    t=T0 + 11,
                    market_position="Long",
                    quantity=1,
                    average_price=4810.25,
                    account="Sim101",
                )
            ],
        ),
        Batch(
            instrument=ES,
            seq=6,
            orders=[
                OrderUpdate(
                    t=T0 + 12,
                    cid="m-1",
                    state="Filled",
                    quantity=2,
                    filled=2,
                    avg_fill_price=4810.375,
                    order_id="stub-1",
                )
            ],
            executions=[
                Execution(
                    t=T0 + 13,
                    cid="m-1",
                    execution_id="x-2",
                    price=4810.5,
                    quantity=1,
                    market_position="Long",
                    order_id="stub-1",
                    commission=0.1 + 0.2,
                )
            ],
        ),
        Batch(
            instrument=ES,
            seq=7,
            orders=[
                OrderUpdate(
                    t=T0 + 14,
                    cid="l:2_b.X",
                    state="Rejected",
                    quantity=1,
                    limit_price=4805.75,
                    stop_price=4806.0,
                    error="OrderRejected",
                    comment="no margin",
                )
            ],
            positions=[PositionUpdate(t=T0 + 15, market_position="Flat", quantity=0)],
        ),
        CommandAck(cid="m-1", command_seq=1, status="done"),
        CommandAck(
            cid="l:2_b.X",
            command_seq=9007199254740993,
            status="refused",
            reason='cid: no order "l:2_b.X"\t\u00e9',
        ),
        Heartbeat(t=T0),
        Bye(reason="self-test done"),
    ]


def sent_by_bridge(text: str | bytes) -> Any:
    """A message the bridge's transport sent, decoded as the server decodes it; a batch's
    depth, which the transport sends as packed columns, as rows (the events it was given)."""
    from orderflow.protocol import rows

    msg = decode_client(text)
    if isinstance(msg, Batch) and msg.n_depth:
        assert msg.columns is not None and msg.columns.packed and not msg.depth
        return rows(msg)
    return msg


def test_build_compiles_strategy_and_selftest(build: None) -> None:
    # The library holds transport + strategy + stub: it exists only if the strategy compiled.
    assert STRATEGY_DLL.is_file() and STRATEGY_DLL.stat().st_size > 0
    assert SELFTEST_EXE.is_file() and SELFTEST_EXE.stat().st_size > 0


def test_every_printed_message_decodes_with_exact_values(build: None) -> None:
    lines = run_selftest()
    expected = expected_messages()
    assert len(lines) == len(expected)
    decoded = [decode_client(line) for line in lines]  # raises, naming the field, if invalid
    for got, want in zip(decoded, expected, strict=True):
        assert got == want
    batches = [m for m in decoded if isinstance(m, Batch)]
    assert [b.seq for b in batches] == [1, 2, 3, 4, 5, 6, 7]
    assert all(ord(c) < 128 for line in lines for c in line)  # non-ASCII as \\uXXXX
    # Exact doubles, bit for bit (== above already; repr makes a failure readable).
    assert repr(batches[1].depth[1].price) == "1e-07"
    assert repr(batches[2].bars[0].open) == "0.30000000000000004"
    assert '"price":18125.25' in lines[3] and '"price":0.1,' in lines[2]


def test_output_does_not_depend_on_the_culture(build: None) -> None:
    # Under de-DE the default number format is "0,5": the writer must use the invariant culture.
    german = {"LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8"}
    assert run_selftest(env=german) == run_selftest(env={"LANG": "C", "LC_ALL": "C"})


def test_packed_depth_decodes_to_the_values_of_the_rows(build: None) -> None:
    """The bridge's default form: the same messages with each batch's depth as packed
    columns (Buffer.BlockCopy, base64). Decoded as the server decodes them they give the very
    events of the rows form, doubles bit for bit, and the same engine arrays."""
    import numpy as np

    from orderflow.protocol import column_array, rows

    plain = [decode_client(line) for line in run_selftest()]
    packed = [decode_client(line) for line in run_selftest("--packed")]
    assert len(packed) == len(plain)
    with_depth = 0
    for got, want in zip(packed, plain, strict=True):
        if not isinstance(want, Batch) or not want.depth:
            assert got == want
            continue
        assert isinstance(got, Batch) and got.columns is not None and not got.depth
        assert all(
            isinstance(getattr(got.columns, f), bytes) for f in ("t", "pos", "price", "size")
        )
        assert rows(got) == want
        prices = column_array(got.columns, "price")
        assert prices.tobytes() == np.array([e.price for e in want.depth]).tobytes()
        with_depth += 1
    assert with_depth == 3  # two batches and the snapshot


def test_queue_and_server_message_checks(build: None) -> None:
    lines = run_selftest("--unit")
    assert lines[-1] == "all checks passed", "\n".join(lines)
    assert not [line for line in lines if line.startswith("FAIL")]


def test_answers_become_orderflow_views(build: None) -> None:
    """SelfTestViews.cs: protocol-2 acks and state answers built into OrderflowViews (full and
    unchanged clusters/profile, bar_metrics per series, NaN for absent numbers, malformed
    answers counted and ignored) and readers on two threads never seeing a mixed view while
    the transport swaps 10,000 of them. The C#-decides strategy and the state_request are in
    test_bridge_views.py."""
    lines = run_selftest("--views")
    assert lines[-1] == "all checks passed", "\n".join(lines)
    assert not [line for line in lines if line.startswith("FAIL")]
    assert len([line for line in lines if line.startswith("ok ")]) == 34


def run_commands(messages: list[str]) -> list[str]:
    proc = subprocess.run(
        ["mono", str(SELFTEST_EXE), "--commands"],
        input="".join(m + "\n" for m in messages),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"self-test failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.splitlines()


def command(seq: int, op: Literal["submit", "change", "cancel"], cid: str, **kw: object) -> Command:
    return Command(command_seq=seq, op=op, cid=cid, instrument=ES, **kw)  # type: ignore[arg-type]


def test_commands_as_the_server_encodes_them_are_parsed_and_answered_once(build: None) -> None:
    """The server's own encoder writes the commands; the bridge's reader must see every field
    exactly, answer each with a command_ack the server's decoder accepts, refuse what cannot be
    executed (naming the field), and answer a resent command_seq again without executing it."""
    commands = [
        command(1, "submit", "m-1", action="Buy", order_type="Market", quantity=2, t=T0),
        command(2, "submit", "l:1_a.B", action="SellShort", order_type="StopLimit", quantity=3,
                limit_price=4805.75, stop_price=0.1 + 0.2, oco="grp-1", series=1, t=T0 + 1),
        command(3, "change", "l:1_a.B", quantity=1, limit_price=4806.0, stop_price=4806.25),
        command(4, "cancel", "l:1_a.B"),
        command(5, "submit", "bad", action="Buy", order_type="Limit", quantity=1),  # no price
        command(6, "change", "m-1", quantity=0),  # a change needs a quantity
        command(7, "submit", "mit", action="Sell", order_type="MIT", quantity=1, stop_price=1e-7,
                reason="opposite_signal 2.10 \u00e9"),
    ]  # fmt: skip
    resent = [commands[0], commands[4], commands[1]]  # after a reconnect, with their seqs
    lines = run_commands([encode(c).decode() for c in [*commands, *resent]])
    assert lines[-1] == "executed 5"  # 1, 2, 3, 4, 7: the resends ran nothing
    parsed = [json.loads(x.removeprefix("parsed ")) for x in lines if x.startswith("parsed ")]
    acks = [decode_client(x.removeprefix("ack ")) for x in lines if x.startswith("ack ")]
    for got, sent in zip(parsed, [*commands, *resent], strict=True):
        want = {k: v for k, v in json.loads(encode(sent)).items() if k != "type"}
        want["action"] = want["action"] or ""
        want["order_type"] = want["order_type"] or ""
        assert got == want
    assert repr(parsed[1]["stop_price"]) == "0.30000000000000004"
    done: Literal["done"] = "done"
    assert acks == [
        CommandAck(cid="m-1", command_seq=1, status=done),
        CommandAck(cid="l:1_a.B", command_seq=2, status=done),
        CommandAck(cid="l:1_a.B", command_seq=3, status=done),
        CommandAck(cid="l:1_a.B", command_seq=4, status=done),
        CommandAck(cid="bad", command_seq=5, status="refused",
                   reason="limit_price: required for Limit"),
        CommandAck(cid="m-1", command_seq=6, status="refused",
                   reason="quantity: must be positive to change"),
        CommandAck(cid="mit", command_seq=7, status=done),
        CommandAck(cid="m-1", command_seq=1, status=done),  # the same answers again
        CommandAck(cid="bad", command_seq=5, status="refused",
                   reason="limit_price: required for Limit"),
        CommandAck(cid="l:1_a.B", command_seq=2, status=done),
    ]  # fmt: skip


# Namespaces NinjaTrader's compiler provides to bin\Custom, plus the bridge's own.
ALLOWED_USINGS = re.compile(
    r"^(System(\.[A-Za-z.]+)?|NinjaTrader\.(Cbi|Data|NinjaScript(\.[A-Za-z]+)?|Core|Gui\.Chart)"
    r"|Orderflow\.Bridge)$"
)


def shipped_sources() -> list[Path]:
    return sorted(p for p in BRIDGE.glob("*.cs") if not p.name.startswith("SelfTest"))


def code_of(path: Path) -> str:
    """The C# without comments (a rough cut: also drops what follows // inside strings)."""
    return re.sub(r"//.*", "", path.read_text())


def test_shipped_sources_use_only_what_ninjatrader_has() -> None:
    assert [p.name for p in shipped_sources()] == [
        "OrderflowExampleStrategy.cs",
        "OrderflowIndicator.cs",
        "OrderflowModel.cs",
        "OrderflowRender.cs",
        "OrderflowStrategy.cs",
        "OrderflowTransport.cs",
    ]
    stub = (BRIDGE / "stub" / "NinjaTraderStub.cs").read_text()
    stub_only = set(re.findall(r"\b(Stub\w+)", stub)) | {"NinjaTraderStub"}
    for path in [*shipped_sources(), *BRIDGE.glob("SelfTest*.cs")]:
        text = code_of(path)
        for name in stub_only:
            assert name not in text, f"{path.name} uses the stub-only {name}"
        for using in re.findall(r"^\s*using\s+([\w.]+)\s*;", text, flags=re.M):
            assert ALLOWED_USINGS.match(using), f"{path.name}: using {using}"
        assert "Newtonsoft" not in text, f"{path.name}: NinjaTrader ships its own Newtonsoft"
    transport = code_of(BRIDGE / "OrderflowTransport.cs")
    assert "using NinjaTrader" not in transport and "NinjaTrader." not in transport
    strategy = (BRIDGE / "OrderflowStrategy.cs").read_text()
    assert "namespace NinjaTrader.NinjaScript.Strategies" in strategy
    assert re.search(r"class OrderflowStrategy\s*:\s*Strategy\b", strategy)
    indicator = (BRIDGE / "OrderflowIndicator.cs").read_text()
    assert "namespace NinjaTrader.NinjaScript.Indicators" in indicator
    assert re.search(r"class OrderflowIndicator\s*:\s*Indicator\b", indicator)
    # Drawing never waits: no lock, no socket, no sleep in the renderer.
    render = code_of(BRIDGE / "OrderflowRender.cs")
    for word in ("lock", "Transport", "Thread", "Wait", "Monitor"):
        assert not re.search(rf"\b{word}\b", render), f"OrderflowRender.cs uses {word}"
    example = (BRIDGE / "OrderflowExampleStrategy.cs").read_text()
    assert re.search(r"class OrderflowExampleStrategy\s*:\s*OrderflowStrategy\b", example)
    model = code_of(BRIDGE / "OrderflowModel.cs")
    assert "using NinjaTrader" not in model and "NinjaTrader." not in model


def test_transport_resends_unacknowledged_batches_after_a_reconnect(
    build: None, tmp_path: Path
) -> None:
    """Mode (b) against a stand-in server: the first connection acknowledges batch 1 and
    closes; the bridge must reconnect, read welcome.last_seq = 1 and resend batches 2..4."""
    sides: tuple[Literal["bid", "ask"], ...] = ("ask", "bid")
    ops: tuple[Literal["add", "update", "remove"], ...] = ("add", "update", "remove")
    events = [
        Depth(
            t=T0 + i,
            side=sides[i % 2],
            op=ops[i % 3],
            pos=i % 4,
            price=4810.25 + 0.25 * i,
            size=10 + i,
            reset=i == 9,
        )
        for i in range(10)
    ]
    csv = tmp_path / "depth.csv"
    csv.write_text(
        "# instrument,t,side,op,pos,price,size,reset\n"
        + "".join(
            f"{ES},{d.t},{d.side},{d.op},{d.pos},{d.price!r},{d.size},{int(d.reset)}\n"
            for d in events
        )
    )
    connections: list[list[object]] = []

    def handler(ws: ServerConnection) -> None:
        n = len(connections)
        received: list[object] = [sent_by_bridge(ws.recv())]
        connections.append(received)
        last_seq = 0 if n == 0 else 1
        ws.send(
            '{"type":"welcome","protocol":1,"server":"stand-in","session":"s",'
            f'"last_seq":{last_seq}}}'
        )
        for text in ws:
            msg = sent_by_bridge(text)
            received.append(msg)
            if isinstance(msg, Batch):
                ws.send(
                    f'{{"type":"ack","seq":{msg.seq},"instrument":"ESH4","duplicate":false,'
                    f'"applied":{{"depth":{len(msg.depth)}}},"rejected":{{}},"stale":false,'
                    '"book":{},"metrics":{},"signals":[],"processing_us":1.0}'
                )
                if n == 0:
                    return  # drop the connection after the first batch

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            lines = run_selftest(f"ws://127.0.0.1:{port}/ws", str(csv), "nt8-test", "3")
        finally:
            server.shutdown()
            thread.join(10)

    acked = [json.loads(line)["seq"] for line in lines]  # the printed acks
    # The ack of 1 races with the server's close (welcome.last_seq = 1 covers it anyway).
    assert acked in ([1, 2, 3, 4], [2, 3, 4])
    assert len(connections) == 2
    hello0, *first = connections[0]
    hello1, *second = connections[1]
    assert hello0 == hello1 == Hello(protocol=1, client="nt8-test", encoding="json")
    assert [m.seq for m in first if isinstance(m, Batch)] == [1]
    assert [m.seq for m in second if isinstance(m, Batch)] == [2, 3, 4]  # resent after last_seq
    assert isinstance(second[-1], Bye)
    sent = [d for m in [*first, *second] if isinstance(m, Batch) for d in m.depth]
    assert sent == events


HARNESS_EXE = BUILD / "OrderflowStrategyHarness.exe"


def test_strategy_forwards_ninjatrader_events(build: None) -> None:
    """The strategy itself, driven through the stub (stub/StrategyHarness.cs): NinjaTrader's
    enums, local times and bars become the protocol's fields; a snapshot_request and the connect
    are answered with the ladder from Instrument.MarketDepth; Terminated sends a bye."""
    received: list[object] = []

    def handler(ws: ServerConnection) -> None:
        received.append(sent_by_bridge(ws.recv()))
        ws.send('{"type":"welcome","protocol":1,"server":"stand-in","session":"s","last_seq":0}')
        ws.send(
            '{"type":"snapshot_request","instrument":"ES 03-24","reason":"gap",'
            '"expected_seq":1,"got_seq":3}'
        )
        for text in ws:
            msg = sent_by_bridge(text)
            received.append(msg)
            if isinstance(msg, Batch):
                ws.send(
                    f'{{"type":"ack","seq":{msg.seq},"instrument":"ESH4","duplicate":false,'
                    '"applied":{},"rejected":{},"stale":false,"book":{},"metrics":{},'
                    '"signals":[],"processing_us":1.0}'
                )

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            proc = subprocess.run(
                ["mono", str(HARNESS_EXE), f"ws://127.0.0.1:{port}/ws"],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            server.shutdown()
            thread.join(10)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"

    # the chart's cluster increment (4 ticks by default) goes in the hello
    assert received[0] == Hello(protocol=1, client="nt8-harness", encoding="json", report=True,
                                cluster_granularity=4)  # fmt: skip
    assert received[-1] == Bye(reason="strategy terminated")
    # after the welcome, NinjaTrader's picture for reconciliation: flat, no working orders
    reports = [m for m in received if isinstance(m, Report)]
    assert len(reports) == 1 and (reports[0].positions, reports[0].orders) == ([], [])
    batches = [m for m in received if isinstance(m, Batch)]
    assert [b.seq for b in batches] == list(range(1, len(batches) + 1))
    assert {b.instrument for b in batches} == {ES}
    ms = 1_000_000
    live = [b for b in batches if not b.snapshot]
    assert [d for b in live for d in b.depth] == [
        Depth(t=T0, side="bid", op="add", pos=0, price=4810.0, size=40),
        Depth(t=T0 + 1 * ms, side="ask", op="add", pos=0, price=4810.25, size=28),
        Depth(t=T0 + 2 * ms, side="ask", op="update", pos=0, price=4810.25, size=30),
        Depth(t=T0 + 3 * ms, side="bid", op="remove", pos=1, price=4809.75, size=0),
        Depth(t=T0 + 4 * ms, side="bid", op="update", pos=0, price=4810.0, size=41, reset=True),
    ]
    assert [k for b in live for k in b.ticks] == [
        Tick(t=T0 + 5 * ms, price=4810.25, size=3, bid=4810.0, ask=4810.25),
        Tick(t=T0 + 8 * ms, price=4810.5, size=2, bid=None, ask=4810.5),
    ]
    minute = 60_000_000_000
    assert [r for b in live for r in b.bars] == [
        Bar(
            series=0,
            t=T0 - 2 * minute,
            open=4809.5,
            high=4810.25,
            low=4809.25,
            close=4810.0,
            volume=812,
            closed=True,
            period="1 Minute",
        ),
        Bar(
            series=0,
            t=T0 - minute,
            open=4810.0,
            high=4810.5,
            low=4809.75,
            close=4810.25,
            volume=97,
            closed=False,
            period="1 Minute",
        ),
    ]  # fmt: skip  (the period as NinjaTrader names the series: the server's bar metrics use it)
    snapshots = [b for b in batches if b.snapshot]
    # one on connect; the snapshot_request that arrives while it is still unacknowledged is
    # answered by it (the server applies it after whatever the request was about)
    assert len(snapshots) == 1
    for snap in snapshots:
        assert not snap.ticks and not snap.bars
        # a reset followed by the rows: the first row of each side carries IsReset
        assert [(d.side, d.op, d.pos, d.price, d.size, d.reset) for d in snap.depth] == [
            ("bid", "add", 0, 4810.0, 40, True),
            ("bid", "add", 1, 4809.75, 12, False),
            ("ask", "add", 0, 4810.25, 28, True),
            ("ask", "add", 1, 4810.5, 9, False),
        ]


def test_transport_sends_heartbeats_when_idle(build: None) -> None:
    received: list[object] = []

    def handler(ws: ServerConnection) -> None:
        received.append(sent_by_bridge(ws.recv()))
        ws.send('{"type":"welcome","protocol":1,"server":"stand-in","session":"s","last_seq":7}')
        received.extend(sent_by_bridge(text) for text in ws)

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            before = time.time_ns()
            run_selftest("--idle", f"ws://127.0.0.1:{port}/ws", "1000")
            after = time.time_ns()
        finally:
            server.shutdown()
            thread.join(10)

    assert received[0] == Hello(protocol=1, client="nt8-idle", encoding="json")
    assert received[-1] == Bye(reason="idle done")
    beats = [m for m in received if isinstance(m, Heartbeat)]
    assert len(beats) >= 3 and len(beats) == len(received) - 2  # nothing else while idle
    assert all(before <= b.t <= after for b in beats)  # ns since the epoch, UTC


@pytest.mark.slow
def test_bridge_feeds_the_real_server_and_its_book_equals_the_l3_book(
    build: None, tmp_path: Path
) -> None:
    """End to end: the C# transport under mono sends ESH4's first 6,000-odd NinjaTrader depth
    events (its own batching) to the real server; the server's ladder then equals the L3 book's
    top 10 at that boundary, with no gap, duplicate or refusal."""
    import numpy as np

    from orderflow.book.l3 import OrderBook
    from orderflow.io.dbn import read_mbo
    from orderflow.io.nt_convert import mbo_to_nt_depth
    from orderflow.model.dtypes import NO_PRICE
    from orderflow.model.enums import Flags, NtOperation
    from tests.conftest import ES_MBO, need
    from tests.integration.test_server import Server

    mbo, inst = read_mbo(need(ES_MBO))
    nt = mbo_to_nt_depth(mbo, levels=10, instrument=inst)
    ends = np.flatnonzero(nt["flags"] & Flags.LAST) + 1
    stop = int(ends[np.searchsorted(ends, 6_000)])
    ops = {int(NtOperation.ADD): "add", int(NtOperation.UPDATE): "update",
           int(NtOperation.REMOVE): "remove"}  # fmt: skip
    csv = tmp_path / "esh4.csv"
    csv.write_text("".join(
        f"{ES},{int(e['ts_event'])},{'bid' if e['side'] == 0 else 'ask'},"
        f"{ops[int(e['operation'])]},{int(e['position'])},{inst.to_price(int(e['price']))!r},"
        f"{int(e['size'])},0\n" for e in nt[:stop]
    ))  # fmt: skip
    depth = OrderBook(inst).apply_mbo(mbo, record_depth=10).depth
    assert depth is not None
    r = int(np.searchsorted(depth.ts_event, int(nt["ts_event"][stop - 1]), side="right")) - 1
    server = Server()
    try:
        acks = run_selftest(server.ws, str(csv), "mono-bridge", "200")
        book = http().get(f"{server.http}/api/book/{ES}").json()
        health = http().get(f"{server.http}/health").json()
    finally:
        server.stop()
    # One ack may answer consecutive batches (first_seq .. seq): together they cover 1..n.
    covered = [(a.get("first_seq") or a["seq"], a["seq"]) for a in map(json.loads, acks)]
    assert covered[0][0] == 1 and all(b[0] == a[1] + 1 for a, b in itertools.pairwise(covered))
    assert covered[-1][1] >= stop // 200
    rows = {"bid": (depth.bid_price[r], depth.bid_size[r]),
            "ask": (depth.ask_price[r], depth.ask_size[r])}  # fmt: skip
    want = {
        side: [{"price": inst.to_price(int(p)), "size": int(q)}
               for p, q in zip(*rows[side], strict=True) if p != NO_PRICE]
        for side in ("bid", "ask")
    }  # fmt: skip
    assert (book["bid"], book["ask"]) == (want["bid"], want["ask"])
    es = health["instruments"]["ESH4"]
    assert es["depth_events"] == stop and es["stale"] is False and es["rejected"] == {}
    assert "gaps" not in health["counters"] and "duplicates" not in health["counters"]


STUB_T0 = 1_704_205_800_000_000_000  # the stub's first order event: 2024-01-02 09:30 New York
MS = 1_000_000


class OrdersHarness:
    """stub/StrategyHarness.cs in --orders mode: the strategy executing commands through the
    stub; stdin lines (fill, reject, state, replay-exec, sync) answered "ok LINE"."""

    def __init__(self, url: str, *flags: str) -> None:
        self.proc = subprocess.Popen(
            ["mono", str(HARNESS_EXE), url, "--orders", *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []  # every line, read or not
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
            self.seen.append(line.rstrip("\n"))
        self.lines.put("")  # EOF

    def read_until(self, prefix: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"harness: no {prefix!r} within {timeout} s") from None
            if line.startswith(prefix):
                return line
            if line == "" and self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"harness ended before {prefix!r}: {err}")

    def do(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        self.read_until("ok " + line)

    def finish(self) -> str:
        """Closes stdin; the harness waits for its acks, terminates and prints its counts."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        line = self.read_until("stub ")
        assert self.proc.wait(60) == 0
        return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def ack_text(seq: int) -> str:
    return (
        f'{{"type":"ack","seq":{seq},"instrument":"ESH4","duplicate":false,"applied":{{}},'
        '"rejected":{},"stale":false,"book":{},"metrics":{},"signals":[],"processing_us":1.0}'
    )


def submit(seq: int, cid: str, action: str, order_type: str, quantity: int, **kw: object) -> str:
    return encode(
        command(seq, "submit", cid, action=action, order_type=order_type, quantity=quantity, **kw)
    ).decode()


def expected_order_events() -> tuple[list[OrderUpdate], list[Execution]]:
    """What the stub raises for: Market Buy 2 (m-1, filled 1 + 1 at 4810.25), Limit Buy 1 at
    4805.0 (l-1) changed to 3 at 4805.25, 2 filled there (1 + 1), then cancelled; a Limit Sell
    (r-1) rejected. One ms per event from STUB_T0; order ids stub-1..3."""
    ups: list[OrderUpdate] = []
    t = iter(range(STUB_T0, STUB_T0 + 100 * MS, MS))

    def up(cid: str, oid: str, state: str, q: int, **kw: object) -> None:
        ups.append(OrderUpdate(t=next(t), cid=cid, state=state, quantity=q, order_id=oid, **kw))  # type: ignore[arg-type]

    execs: list[Execution] = []

    def ex(cid: str, oid: str, n: int, price: float, q: int) -> None:
        execs.append(Execution(t=next(t), cid=cid, execution_id=f"stub-exec-{n}", price=price,
                               quantity=q, market_position="Long", order_id=oid,
                               commission=0.31 * q))  # fmt: skip

    for state in ("Submitted", "Accepted", "Working"):
        up("m-1", "stub-1", state, 2)
    up("m-1", "stub-1", "PartFilled", 2, filled=1, avg_fill_price=4810.25)
    ex("m-1", "stub-1", 1, 4810.25, 1)
    up("m-1", "stub-1", "Filled", 2, filled=2, avg_fill_price=4810.25)
    ex("m-1", "stub-1", 2, 4810.25, 1)
    for state in ("Submitted", "Accepted", "Working", "ChangePending"):
        up("l-1", "stub-2", state, 1, limit_price=4805.0)
    up("l-1", "stub-2", "Working", 3, limit_price=4805.25)
    up("l-1", "stub-2", "PartFilled", 3, filled=1, avg_fill_price=4805.25, limit_price=4805.25)
    ex("l-1", "stub-2", 3, 4805.25, 1)
    filled = {"filled": 2, "avg_fill_price": 4805.25, "limit_price": 4805.25}
    up("l-1", "stub-2", "PartFilled", 3, **filled)
    ex("l-1", "stub-2", 4, 4805.25, 1)
    up("l-1", "stub-2", "CancelPending", 3, **filled)
    up("l-1", "stub-2", "Cancelled", 3, **filled)
    up("r-1", "stub-3", "Submitted", 1, limit_price=4815.0)
    up("r-1", "stub-3", "Rejected", 1, limit_price=4815.0, error="OrderRejected",
       comment="no margin")  # fmt: skip
    return ups, execs


def test_strategy_executes_commands_once_and_forwards_order_events(build: None) -> None:
    """The strategy through the stub against a stand-in server: commands are executed on
    NinjaTrader's (stand-in) thread and acknowledged; refusals name the reason; after a
    reconnect the same session's resent commands are acknowledged again with the first answer
    and never executed twice; the order updates, executions and positions arrive by value, in
    NinjaTrader's order, with a Rejected state forwarded (IgnoreAllErrors)."""
    received: list[object] = []
    acks: list[list[CommandAck]] = []
    last_seq = [0]
    go = [threading.Event() for _ in range(3)]
    done = [threading.Event() for _ in range(3)]

    def pump(ws: ServerConnection, until: Callable[[], bool]) -> None:
        while not until():
            try:
                text = ws.recv(timeout=0.05)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            msg = sent_by_bridge(text)
            received.append(msg)
            if isinstance(msg, Batch):
                last_seq[0] = max(last_seq[0], msg.seq)
                ws.send(ack_text(msg.seq))
            elif isinstance(msg, CommandAck):
                acks[-1].append(msg)

    def handler(ws: ServerConnection) -> None:
        n = len(acks)
        mine: list[CommandAck] = []
        acks.append(mine)
        received.append(sent_by_bridge(ws.recv()))
        ws.send(
            '{"type":"welcome","protocol":1,"server":"stand-in","session":"s",'
            f'"last_seq":{last_seq[0]},"flags":{{"historical_only":false}}}}'
        )
        if n == 0:
            pump(ws, go[0].is_set)
            ws.send(submit(1, "m-1", "Buy", "Market", 2))
            ws.send(submit(2, "l-1", "Buy", "Limit", 1, limit_price=4805.0))
            ws.send(encode(command(3, "change", "l-1", quantity=3, limit_price=4805.25)).decode())
            pump(ws, lambda: len(mine) == 3)
            done[0].set()
            pump(ws, go[1].is_set)
            ws.send(submit(4, "m-1", "Buy", "Market", 1))  # a cid in use
            ws.send(encode(command(5, "change", "nope", quantity=1)).decode())
            ws.send(submit(6, "n-1", "Buy", "Market", 1).replace(ES, NQ))  # not series 0's
            ws.send(encode(command(7, "cancel", "l-1")).decode())
            ws.send(submit(8, "r-1", "Sell", "Limit", 1, limit_price=4815.0))
            pump(ws, lambda: len(mine) == 8)
            done[1].set()  # and drop the connection
        elif n == 1:
            pump(ws, go[2].is_set)
            ws.send(submit(1, "m-1", "Buy", "Market", 2))  # acks lost: sent again
            ws.send(encode(command(7, "cancel", "l-1")).decode())
            ws.send(encode(command(3, "change", "l-1", quantity=3, limit_price=4805.25)).decode())
            ws.send(submit(9, "h-1", "Buy", "Market", 1))
            pump(ws, lambda: len(mine) == 4)
            done[2].set()
        else:
            pump(ws, lambda: False)  # until the bye

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        harness = OrdersHarness(f"ws://127.0.0.1:{port}/ws")
        try:
            ready = harness.read_until("ready")
            go[0].set()
            assert done[0].wait(30)
            harness.do("fill l-1 2 4805.25")
            harness.do("reject no margin")
            go[1].set()
            assert done[1].wait(30)
            harness.do("state Historical")
            go[2].set()
            assert done[2].wait(30)
            harness.do("sync")
            counts = harness.finish()
        finally:
            harness.kill()
            server.shutdown()
            thread.join(10)

    assert ready == "ready IsUnmanaged=True RealtimeErrorHandling=IgnoreAllErrors"
    assert counts == "stub submits=3 changes=1 cancels=1"  # nothing ran twice
    ok: Literal["done"] = "done"
    no: Literal["refused"] = "refused"
    first = [
        CommandAck(cid="m-1", command_seq=1, status=ok),
        CommandAck(cid="l-1", command_seq=2, status=ok),
        CommandAck(cid="l-1", command_seq=3, status=ok),
        CommandAck(cid="m-1", command_seq=4, status=no,
                   reason="cid: m-1 is already used by an order of this strategy"),
        CommandAck(cid="nope", command_seq=5, status=no,
                   reason="cid: no order nope in this strategy"),
        CommandAck(cid="n-1", command_seq=6, status=no,
                   reason="instrument: series 0 is 'ES 03-24', not 'NQ 12-26'"),
        CommandAck(cid="l-1", command_seq=7, status=ok),
        CommandAck(cid="r-1", command_seq=8, status=ok),  # the call was made; then Rejected
    ]  # fmt: skip
    assert acks[0] == first
    assert acks[1] == [
        first[0],
        first[6],
        first[2],
        CommandAck(cid="h-1", command_seq=9, status=no,
                   reason="not in State.Realtime (State.Historical): no orders"),
    ]  # fmt: skip

    batches = {m.seq: m for m in received if isinstance(m, Batch)}  # a resend counts once
    ordered = [batches[k] for k in sorted(batches)]
    assert {b.instrument for b in ordered} == {ES}
    want_orders, want_execs = expected_order_events()
    assert [u for b in ordered for u in b.orders] == want_orders
    assert [x for b in ordered for x in b.executions] == want_execs
    positions = [(p.market_position, p.quantity, p.average_price, p.account)
                 for b in ordered for p in b.positions]  # fmt: skip
    avg3 = (4810.25 * 2 + 4805.25) / 3  # the stub's average, in the same double arithmetic
    assert positions == [
        ("Long", 1, 4810.25, "Sim101"),
        ("Long", 2, 4810.25, "Sim101"),
        ("Long", 3, avg3, "Sim101"),
        ("Long", 4, (avg3 * 3 + 4805.25) / 4, "Sim101"),
    ]
    # NinjaTrader's order across the three lists: each batch's orders precede its executions
    # precede its positions in time.
    for b in ordered:
        ts = [u.t for u in b.orders] + [x.t for x in b.executions]
        assert ts == sorted(ts)


@pytest.mark.slow
def test_commands_posted_to_the_real_server_are_executed_and_reported_exactly(
    build: None,
) -> None:
    """End to end under mono: the strategy (through the stub) connected to the real server; the
    test POSTs Market and Limit submits, a change and a cancel to /api/commands. Each is
    acknowledged done, and /api/orders then holds exactly the states, fills and position the
    stub produced; an execution NinjaTrader reports twice (same execution_id) counts once."""
    import httpx

    from tests.integration.test_server import Server
    from tests.serving import manual_trading

    # the stub's prints are far from its fills: no daily loss limit to flatten the test's trades
    server = Server(**manual_trading(daily_loss_limit=0.0))
    harness = OrdersHarness(server.ws)
    http = httpx.Client(base_url=server.http, timeout=10)

    def post(op: str, cid: str, **fields: object) -> dict[str, Any]:
        body = {"client": "nt8-harness", "instrument": ES, "op": op, "cid": cid, **fields}
        r = http.post("/api/commands", json=body)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def order(cid: str) -> dict[str, Any]:
        got: dict[str, Any] = http.get(f"/api/orders/{cid}").json()
        return got

    def wait_for(cid: str, state: str, command: str = "done") -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            o = order(cid)
            if o.get("state") == state and o.get("command") == command:
                return o
            time.sleep(0.02)
        raise AssertionError(f"{cid}: not {state}/{command}: {order(cid)}")

    try:
        harness.read_until("ready")
        sent = post("submit", "m-1", action="Buy", order_type="Market", quantity=2)
        cmd = sent["command"]
        assert sent["status"] == "pending"
        assert (cmd["command_seq"], cmd["op"], cmd["cid"], cmd["instrument"]) == (
            1,
            "submit",
            "m-1",
            ES,
        )
        post("submit", "l-1", action="Buy", order_type="Limit", quantity=1, limit_price=4805.0)
        wait_for("l-1", "Working")
        post("change", "l-1", quantity=3, limit_price=4805.25)
        wait_for("l-1", "Working")
        harness.do("fill l-1 2 4805.25")
        harness.do("replay-exec")  # stub-exec-4 reported a second time
        post("cancel", "l-1")
        harness.do("sync")
        m1 = wait_for("m-1", "Filled")
        l1 = wait_for("l-1", "Cancelled")
        positions = http.get("/api/positions").json()["positions"]
        health = http.get("/health").json()
        counts = harness.finish()
    finally:
        harness.kill()
        http.close()
        server.stop()

    assert counts == "stub submits=2 changes=1 cancels=1"
    assert [(c["command_seq"], c["op"], c["status"], c["reason"]) for c in m1["commands"]] == [
        (1, "submit", "done", "")
    ]
    assert [(c["command_seq"], c["op"], c["status"]) for c in l1["commands"]] == [
        (2, "submit", "done"), (3, "change", "done"), (4, "cancel", "done"),
    ]  # fmt: skip
    want_orders, want_execs = expected_order_events()
    for rec, cid in ((m1, "m-1"), (l1, "l-1")):
        last = [u for u in want_orders if u.cid == cid][-1]
        assert {k: rec[k] for k in ("state", "quantity", "limit_price", "stop_price",
                                    "order_id", "error", "comment", "updates")} == {
            "state": last.state, "quantity": last.quantity, "limit_price": last.limit_price,
            "stop_price": last.stop_price, "order_id": last.order_id, "error": last.error,
            "comment": last.comment, "updates": sum(u.cid == cid for u in want_orders),
        }  # fmt: skip
        execs = [x for x in want_execs if x.cid == cid]
        assert rec["executions"] == [x.execution_id for x in execs]  # each once
        assert rec["filled"] == sum(x.quantity for x in execs) == last.filled
        assert rec["avg_fill_price"] == last.avg_fill_price
        assert rec["ours"] is True and rec["overfill"] is False
    assert health["orders"]["executions_duplicate"] == 1
    avg3 = (4810.25 * 2 + 4805.25) / 3
    # the desk's position from the executions (each once): long 4
    assert [(p["quantity"], p["account"]) for p in positions] == [(4, "Sim101")]
    assert positions[0]["avg_price"] == pytest.approx((avg3 * 3 + 4805.25) / 4, rel=1e-15)


def test_the_original_feature_flags(build: None) -> None:
    """usePythonHelper off: the strategy never connects and forwards nothing. HistoricalOnly:
    a command is refused with that reason, and DebugMode prints it to the Output window."""

    from tests.integration.test_server import Server
    from tests.serving import manual_trading

    server = Server(**manual_trading())
    try:
        off = subprocess.run(["mono", str(HARNESS_EXE), server.ws, "--no-helper"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert off.returncode == 0, off.stderr
        assert "usePythonHelper is off" in off.stdout
        health = http().get(f"{server.http}/health").json()
        assert health["instruments"] == {} and health["clients"] == {}

        harness = OrdersHarness(server.ws, "--historical-only", "--debug")
        try:
            harness.read_until("ready")
            body = {"client": "nt8-harness", "instrument": ES, "op": "submit", "cid": "h-1",
                    "action": "Buy", "order_type": "Market", "quantity": 1}  # fmt: skip
            assert http().post(f"{server.http}/api/commands", json=body).status_code == 200
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                order = http().get(f"{server.http}/api/orders/h-1").json()
                if order["command"] != "pending":
                    break
                time.sleep(0.02)
            # NinjaTrader never had it: the desk ends a refused submit Rejected
            assert order["command"] == "refused" and order["state"] == "Rejected"
            assert order["commands"][0]["reason"] == "HistoricalOnly is on: no live orders"
            harness.read_until("orderflow: command 1 submit h-1: refused: HistoricalOnly")
        finally:
            harness.proc.kill()
    finally:
        server.stop()


def test_the_bridge_reports_its_picture_and_the_trading_engine_opens_on_it(build: None) -> None:
    """With the server's trading engine on, the strategy's hello promises a report and its
    report (flat, no orders) after the welcome opens the gate: a submit then passes the risk
    check, is executed by the stub and ends Filled, and /api/risk holds the position."""

    from orderflow.server.trading import ServerTradingParams
    from orderflow.trading.params import TradingParams
    from orderflow.trading.risk import RiskParams
    from tests.integration.test_server import Server

    # no automatic kill: this test is about the report, not the book's health
    risk = RiskParams(book_stale_ms=0.0, kill_on_disconnect=False, kill_on_crossed_book=False,
                      max_consecutive_losses=0)  # fmt: skip
    server = Server(command_timeout_s=30.0, trading=TradingParams(risk=risk),
                    trading_server=ServerTradingParams(use_sessions=False))  # fmt: skip
    harness = OrdersHarness(server.ws, "--debug")
    try:
        harness.read_until("ready")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            risk_now = http().get(f"{server.http}/api/risk").json()
            client = risk_now["clients"].get("nt8-harness", {})
            if client.get("reconciliations"):
                break
            time.sleep(0.02)
        # reconciled on the bridge's report (it said report: true, so the gate waited for it)
        assert client["reconciliations"] >= 1 and client["reconciled"] is True, risk_now
        assert client["awaiting_report"] is False
        body = {"client": "nt8-harness", "instrument": ES, "op": "submit", "cid": "r-1",
                "action": "Buy", "order_type": "Market", "quantity": 1}  # fmt: skip
        r = http().post(f"{server.http}/api/commands", json=body)
        assert r.status_code == 200, r.text
        while time.monotonic() < deadline:
            order = http().get(f"{server.http}/api/orders/r-1").json()
            # NinjaTrader raises the order update before the execution, and the command's own
            # answer travels apart from both: any of the three may come last
            if (order.get("command"), order.get("state"), order.get("filled")) == (
                "done",
                "Filled",
                1,
            ):
                break
            time.sleep(0.02)
        assert (order["command"], order["state"], order["filled"]) == ("done", "Filled", 1)
    finally:
        harness.proc.kill()
        server.stop()


def test_the_bridge_heals_its_stale_book_with_the_ladder_ninjatrader_holds(build: None) -> None:
    """Against the real server: the bridge's own batch off the grid is refused and the
    server's ladder goes stale; the server asks (snapshot_request), the strategy resends
    Instrument.MarketDepth (the stub's, changed meanwhile) as a reset followed by the rows, and
    the server's book is fresh again and equals that ladder. The depth that keeps coming while
    the ladder is stale (acks saying stale) does not make the bridge send a snapshot each."""

    from tests.integration.test_server import Server

    server = Server()
    harness = OrdersHarness(server.ws, "--debug")
    bids = [(4811.0, 15), (4810.75, 22), (4810.5, 3)]
    asks = [(4811.25, 5), (4811.5, 17)]
    try:
        harness.read_until("ready")
        harness.do("sync")
        harness.do("ladder bid " + " ".join(f"{p}:{v}" for p, v in bids))
        harness.do("ladder ask " + " ".join(f"{p}:{v}" for p, v in asks))
        harness.do("depth bid update 0 4811.1 9")  # off the 0.25 grid: refused, depth lost
        for _ in range(15):  # the feed goes on (a no-op on the ladder the stub holds)
            harness.do("depth bid update 0 4811.0 15")
        harness.do("sync")
        deadline = time.monotonic() + 30
        while True:
            book = http().get(f"{server.http}/api/book/{ES}", params={"levels": 10}).json()
            if not book["stale"]:
                break
            assert time.monotonic() < deadline, book
            time.sleep(0.05)
        assert book["bid"] == [{"price": p, "size": v} for p, v in bids]
        assert book["ask"] == [{"price": p, "size": v} for p, v in asks]
        health = http().get(f"{server.http}/health").json()
        assert health["instruments"]["ESH4"]["stale"] is False
        assert health["feeds"]["waiting_for_snapshot"] == {}
        assert health["feeds"]["owners"] == {"ESH4": "nt8-harness"}
        harness.do("skipped")
    finally:
        harness.proc.kill()
        server.stop()
    asked = [line for line in harness.seen if "snapshots (asked by the server" in line]
    assert asked and asked[0].endswith("(asked by the server: refused)"), harness.seen
    assert len(asked) <= 2, asked  # not one per stale ack


def test_an_ack_saying_stale_gets_one_snapshot_not_one_per_ack(build: None) -> None:
    """A stand-in server that never sends snapshot_request and acks every batch ``stale: true``
    from the bridge's off-grid batch on, until a snapshot comes: the strategy answers the stale
    acks with Instrument.MarketDepth (a reset followed by the rows), once, however many stale
    acks arrive while that snapshot is unacknowledged or within a second of it."""
    received: list[Batch] = []
    stale = [False]
    stale_acks = [0]

    def handler(ws: ServerConnection) -> None:
        sent_by_bridge(ws.recv())
        ws.send('{"type":"welcome","protocol":1,"server":"stand-in","session":"s","last_seq":0}')
        for text in ws:
            msg = sent_by_bridge(text)
            if not isinstance(msg, Batch):
                continue
            received.append(msg)
            if any(d.price == 4811.1 for d in msg.depth):
                stale[0] = True
                ws.send(f'{{"type":"error","seq":{msg.seq},"field":"depth[0].price",'
                        '"reason":"off the grid","code":"bad_request"}')  # fmt: skip
                continue
            if msg.snapshot:
                stale[0] = False
            stale_acks[0] += stale[0]
            ws.send(ack_text(msg.seq).replace('"stale":false', f'"stale":{str(stale[0]).lower()}'))

    bids = [(4811.0, 15), (4810.75, 22)]
    asks = [(4811.25, 5)]
    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        harness = OrdersHarness(f"ws://127.0.0.1:{port}/ws", "--debug")
        try:
            harness.read_until("ready")
            harness.do("sync")
            harness.do("ladder bid " + " ".join(f"{p}:{v}" for p, v in bids))
            harness.do("ladder ask " + " ".join(f"{p}:{v}" for p, v in asks))
            start = len(received)
            harness.do("depth bid update 0 4811.1 9")
            healed_at, deadline = None, time.monotonic() + 20
            # the feed goes on (each a no-op on the ladder the stub holds) until a second
            # after the stand-in saw the snapshot
            while healed_at is None or time.monotonic() < healed_at + 1.2:
                assert time.monotonic() < deadline, (stale_acks, received[start:])
                harness.do("depth bid update 0 4811.0 15")
                time.sleep(0.05)
                if healed_at is None and any(b.snapshot for b in received[start:]):
                    healed_at = time.monotonic()
            harness.do("sync")
            harness.do("skipped")
        finally:
            harness.proc.kill()
            server.shutdown()
            thread.join(10)
    snapshots = [b for b in received[start:] if b.snapshot]
    assert stale_acks[0] >= 1 and len(snapshots) == 1, (stale_acks, snapshots)
    assert [(d.side, d.op, d.pos, d.price, d.size, d.reset) for d in snapshots[0].depth] == [
        ("bid", "add", 0, 4811.0, 15, True),
        ("bid", "add", 1, 4810.75, 22, False),
        ("ask", "add", 0, 4811.25, 5, True),
    ]
    asked = [line for line in harness.seen if "snapshots (asked by the server" in line]
    assert asked == ["orderflow: sending ladder snapshots (asked by the server: stale)"]
    assert stale[0] is False  # healed


RENDER_TEST_EXE = BUILD / "OrderflowRenderTest.exe"


def test_the_chart_draws_the_view_clipped_with_opacity_by_strength(
    build: None, tmp_path: Path
) -> None:
    """stub/RenderTest.cs draws a hand-built OrderflowView through OrderflowRenderer, the
    indicator and the strategy on the stub's recording render target, and checks every
    rectangle, line, marker and brush; the recorded calls are checked again here and painted
    into a PNG (scripts/render_calls_png.py)."""
    calls_json = tmp_path / "calls.json"
    proc = subprocess.run(
        ["mono", str(RENDER_TEST_EXE), str(calls_json)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[-1] == "all checks passed", proc.stdout + proc.stderr
    assert not [line for line in lines if line.startswith("FAIL")]
    calls = json.loads(calls_json.read_text())["calls"]

    # The same chart as the C# test: y = 50 + 40 px/point down from 4815; x = 100 + 2 px/s.
    def y(price: float) -> float:
        return round(50 + (4815.0 - price) * 40)

    cluster_colors = {  # OrderflowRenderSettings' defaults
        (0x1E, 0x90, 0xFF): "liquidity bid",
        (0xFF, 0x8C, 0x00): "liquidity ask",
        (0x2E, 0x8B, 0x57): "volume buy",
        (0xDC, 0x14, 0x3C): "volume sell",
    }

    def rgb(call: dict[str, Any]) -> tuple[int, ...]:
        return tuple(round(v * 255) for v in call["color"])

    fills = [c for c in calls if c["kind"] == "fill_rectangle" and rgb(c) in cluster_colors]
    bounds = sorted((c["y0"], c["y1"], round(c["opacity"], 6)) for c in fills)
    # (top, bottom, opacity) of the 6 visible clusters at or above strength 0.2; 0.15 + 0.6 * s
    assert bounds == sorted(
        [
            (y(4813.00), y(4812.25), 0.45),  # liq-ask-2, strength 0.5
            (y(4811.00), y(4810.50), 0.51),  # vol-sell-4, 0.6
            (y(4810.00), y(4809.50), 0.36),  # vol-buy-3, 0.35
            (y(4808.75), y(4808.00), 0.60),  # vol-buy-5, 0.75
            (y(4807.00), y(4806.00), 0.69),  # liq-bid-1, 0.9
            (y(4805.50), y(4805.00), 0.39),  # liq-bid-edge, 0.4: clipped at the visible 4805
        ]
    )
    # nothing of the weak (0.1), the far (4820) or the old (before the visible times) cluster
    assert all(100 <= c["x0"] <= c["x1"] <= 700 and 50 <= c["y0"] <= c["y1"] <= 450 for c in fills)
    lines_at = {(c["y0"], rgb(c)) for c in calls if c["kind"] == "draw_line" and c["y0"] == c["y1"]}
    assert (y(4810.25), (0xFF, 0xD7, 0x00)) in lines_at  # POC
    assert {(y(4812.0), (0xB0, 0xB0, 0xB0)), (y(4807.5), (0xB0, 0xB0, 0xB0))} <= lines_at  # VA
    assert (y(4809.75), (0xBA, 0x55, 0xD3)) in lines_at  # VWAP
    bands = {(y(p), (0xBA, 0x55, 0xD3)) for p in (4811.25, 4808.25, 4812.75)}
    assert bands <= lines_at  # its bands; the one at 4804 is below the visible prices
    assert (y(4804.0), (0xBA, 0x55, 0xD3)) not in lines_at
    texts = [c["text"] for c in calls if c["kind"] == "draw_text"]
    assert "absorption" in texts and "iceberg" in texts and "sweep" not in texts
    assert "Position: Long 2 @ 4809.50" in texts

    png = tmp_path / "chart.png"
    paint = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "render_calls_png.py"),
            str(calls_json),
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert paint.returncode == 0, paint.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


#: a state answer (protocol 2) with one liquidity cluster, 4806..4807, strength 0.9, seen
#: 14:30:30..14:33:00 UTC on 2024-01-02 (inside the render test's visible chart)
VIEWER_STATE = {
    "type": "state",
    "instrument": ES,
    "metrics": None,
    "clusters": {
        "state": "full",
        "version": 1,
        "items": [
            {
                "id": "liq-bid-1",
                "kind": "liquidity",
                "low": 4806.0,
                "high": 4807.0,
                "size": 900,
                "side": "bid",
                "strength": 0.9,
                "orders": None,
                "first_seen_ns": 1_704_205_830_000_000_000,
                "last_seen_ns": 1_704_205_980_000_000_000,
            }
        ],
    },
    "profile": None,
    "bar_metrics": None,
}


def test_the_indicator_connects_read_only(build: None) -> None:
    """OrderflowIndicator against a stand-in server: a hello under its own viewer name without
    a report, then only state requests for its instrument; a command is refused, never run;
    no batch is ever sent; a bye when it is removed."""
    frames: list[dict[str, Any]] = []

    def handler(ws: ServerConnection) -> None:
        frames.append(json.loads(ws.recv()))
        ws.send('{"type":"welcome","protocol":2,"server":"stand-in","session":"s","last_seq":0}')
        submit = command(1, "submit", "v-1", action="Buy", order_type="Market", quantity=1, t=T0)
        ws.send(encode(submit).decode())
        for text in ws:
            frames.append(json.loads(text))
            if frames[-1]["type"] == "state_request":  # answered: the next one may follow
                ws.send(json.dumps(VIEWER_STATE))

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            proc = subprocess.run(
                ["mono", str(RENDER_TEST_EXE), "--viewer", f"ws://127.0.0.1:{port}/ws", "1500"],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            server.shutdown()
            thread.join(10)
    assert proc.stdout.splitlines()[-1:] == ["viewer done"], proc.stdout + proc.stderr
    # what the server answered is drawn: y 370..410 (4807..4806), opacity 0.15 + 0.6 * 0.9
    assert [line for line in proc.stdout.splitlines() if line.startswith("cluster ")] == [
        "cluster 370 410 0.69"
    ], proc.stdout
    hello = frames[0]
    assert hello["type"] == "hello" and hello["client"] == "nt8-view-ES 03-24"
    assert not hello.get("report", False)
    kinds = [f["type"] for f in frames[1:]]
    assert "batch" not in kinds and "report" not in kinds
    requests = [f for f in frames if f["type"] == "state_request"]
    assert len(requests) >= 2 and all(
        f == {"type": "state_request", "instrument": ES} for f in requests
    )
    acks = [f for f in frames if f["type"] == "command_ack"]
    assert [(a["cid"], a["status"], a["reason"]) for a in acks] == [
        ("v-1", "refused", "read-only viewer (OrderflowIndicator)")
    ]
    assert kinds[-1] == "bye"
    assert set(kinds) <= {"state_request", "command_ack", "heartbeat", "bye"}
