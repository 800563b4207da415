"""A seeded fuzzer against the real server (``orderflow serve`` as a subprocess on a folder of
its own, recordings and journal inside it): a few thousand valid messages, each mutated, over
every POST route and a few GET routes (JSON bodies and query strings) and over the WebSocket
(JSON text frames and MessagePack binary frames; a fuzzed hello on a connection of its own).
Mutations: huge, negative, float, NaN, infinite, string, null and nested values in every field,
int64 overflow, unicode and path-like instrument names, truncated and garbage bodies, wrong
types, deep nesting, huge arrays within the body limit.

What must hold: no answer is a 5xx (over the WebSocket: no close 1011, no dropped socket), a
bystander bridge feeding real ESH4 depth beside the fuzzer keeps its connection and gets every
ack, the journal still writes, and afterwards the folder restarts cleanly: SIGKILL,
``orderflow serve`` again on the same folder starts, ``/health`` says ok and the book is the
one before the kill.

Every case is drawn from ``random.Random(f"{seed}:{case}")``; a failure prints the seed, the
case and the message, and ``python -m tests.chaos.test_fuzz SEED CASE`` prints that case
again (its route and body). The server's state depends on the cases before, so a case
reproduces for sure by running its seed up to it.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from orderflow.client.feed import build_batches
from orderflow.io.formats import load_stream
from tests.conftest import ES_MBO, need
from tests.serving import Serve, http, write_config

pytestmark = pytest.mark.slow

SEEDS = (12, 1_207)
CASES = 1_600  # per seed
BUDGET_S = 30.0  # per seed: a slow machine runs fewer cases, never longer
BODY_LIMIT = 8 * 1024 * 1024
INST = "ES 03-24"
BRIDGE = "nt8"
T0 = 1_703_545_200_000_000_000
PX = 4_810.25  # replaced by a price of the data when it is loaded

# ---- values ---------------------------------------------------------------------------------


class Raw(str):
    """A JSON token written verbatim (``1e400``, ``-0``, ``NaN``): what no encoder writes."""


RAW_TOKENS = ("1e400", "-1e400", "NaN", "Infinity", "-Infinity", "-0", "1E+309", "0e0",
              "123456789012345678901234567890", "-9223372036854775809", "1.5e-400")  # fmt: skip
NAMES = (
    "", " ", "ES", "ESH4", "ES 03-24", "es 03-24", "ES 13-24", "ES 03-99", "NQ 03-24", "ZZ",
    "..", "../..", "../../etc/passwd", "ES/../../x", "ES\\..\\..", "/tmp/x", "C:\\x", "CON",
    "ES\x00", "ES\n03-24", "\u202eES", "ÉS 03-24", "ES 03-24 🚀", "ＥＳ", "x" * 64, "x" * 65,
    "ES 03-24" + " " * 40, "%2e%2e", "ES*", "ES?", "$(rm)", "ES;DROP", "ES 03-24\t",
)  # fmt: skip


def hostile(rng: random.Random, depth: int = 0) -> Any:
    """A value no field expects (or one at the edge of what it takes)."""
    kind = rng.randrange(22)
    if kind == 0:
        return rng.choice([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 2**64, 2**64 - 1,
                           10**30, -(10**30)])  # fmt: skip
    if kind == 1:
        return rng.choice([-1, 0, 1, -(2**31), 2**31, 2**32, 2**53 + 1, 10**9 + 1, 100_001])
    if kind == 2:
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308])
    if kind == 3:
        return rng.choice([0.5, 4810.1, 4810.125, -4810.25, 1e18, 1e-9, 2.5, 1e300, -1e300])
    if kind == 4:
        return Raw(rng.choice(RAW_TOKENS))
    if kind == 5:
        return rng.choice(NAMES)
    if kind == 6:
        return rng.choice(["", "x" * rng.choice([1, 51, 129, 10_000]), "1", "1.5", "nan",
                           "true", "null", "bid", "Long", "Filled", "\x00", "🚀" * 20])  # fmt: skip
    if kind == 7:
        return None
    if kind == 8:
        return rng.choice([True, False])
    if kind == 9:
        return []
    if kind == 10:
        return {}
    if kind == 11 and depth < 3:
        return [hostile(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    if kind == 12 and depth < 3:
        return {rng.choice(["a", "t", "type", "price", ""]): hostile(rng, depth + 1)}
    if kind == 13:
        return nested(rng.choice([10, 100, 300]))  # deeper: damage() writes bytes
    if kind == 14:
        return rng.randrange(-(2**70), 2**70)
    if kind == 15:
        return rng.uniform(-1e6, 1e6)
    if kind == 16:
        return PX + rng.randrange(-8, 9) * 0.25
    if kind == 17:
        return T0 + rng.randrange(-(10**18), 10**18)
    return rng.choice([0, 1, 2, -1, 0.25, "", None, math.nan, 2**63])


def nested(n: int) -> Any:
    out: Any = 1
    for _ in range(n):
        out = [out]
    return out


# ---- valid messages -------------------------------------------------------------------------


def depth_event(rng: random.Random, k: int = 0) -> dict[str, Any]:
    side = rng.choice(["bid", "ask"])
    px = PX - 0.25 * (k + 1) if side == "bid" else PX + 0.25 * (k + 1)
    return {"t": T0 + k, "side": side, "op": rng.choice(["add", "update", "remove"]),
            "pos": rng.randrange(10), "price": px, "size": rng.randrange(1, 50),
            "reset": False}  # fmt: skip


def tick(rng: random.Random) -> dict[str, Any]:
    return {"t": T0 + 5, "price": PX, "size": rng.randrange(1, 9), "bid": PX - 0.25, "ask": PX}


def bar(rng: random.Random) -> dict[str, Any]:
    return {
        "series": rng.randrange(3),
        "t": T0,
        "open": PX,
        "high": PX + 0.5,
        "low": PX - 0.5,
        "close": PX,
        "volume": rng.randrange(1, 999),
        "closed": rng.random() < 0.8,
    }


def order(rng: random.Random) -> dict[str, Any]:
    return {"t": T0 + 7, "cid": f"fz-{rng.randrange(50)}", "state": rng.choice(
        ["Working", "Filled", "PartFilled", "Cancelled", "Accepted"]), "quantity": 2,
        "filled": rng.randrange(3), "avg_fill_price": PX, "limit_price": PX, "stop_price": 0.0,
        "order_id": str(rng.randrange(10**6)), "error": "NoError", "comment": ""}  # fmt: skip


def execution(rng: random.Random) -> dict[str, Any]:
    return {"t": T0 + 8, "cid": f"fz-{rng.randrange(50)}", "execution_id":
            f"E-{rng.randrange(10**9)}", "price": PX, "quantity": 1,
            "market_position": rng.choice(["Long", "Short"]), "order_id": "1",
            "commission": rng.choice([0.0, 1.29])}  # fmt: skip


def position(rng: random.Random) -> dict[str, Any]:
    return {
        "t": T0 + 9,
        "market_position": rng.choice(["Long", "Short", "Flat"]),
        "quantity": rng.randrange(3),
        "average_price": PX,
        "account": "Sim101",
    }


def batch(rng: random.Random, what: str) -> dict[str, Any]:
    b: dict[str, Any] = {"instrument": INST, "seq": 0}
    if what == "l2":
        b["depth"] = [depth_event(rng, k) for k in range(rng.randrange(1, 6))]
        if rng.random() < 0.5:
            b["ticks"] = [tick(rng)]
        if rng.random() < 0.2:
            b["snapshot"] = True
    elif what == "columns":
        evs = [depth_event(rng, k) for k in range(rng.randrange(1, 6))]
        b["columns"] = {"t": [e["t"] for e in evs], "side": "".join(e["side"][0] for e in evs),
                        "op": "".join(e["op"][0] for e in evs), "pos": [e["pos"] for e in evs],
                        "price": [e["price"] for e in evs], "size": [e["size"] for e in evs],
                        "reset": []}  # fmt: skip
    elif what == "bars":
        b["bars"] = [bar(rng) for _ in range(rng.randrange(1, 4))]
    else:
        b["orders"] = [order(rng)]
        b["executions"] = [execution(rng)] if rng.random() < 0.6 else []
        b["positions"] = [position(rng)] if rng.random() < 0.4 else []
    return b


def command(rng: random.Random) -> dict[str, Any]:
    op = rng.choice(["submit", "change", "cancel", "bracket"])
    body: dict[str, Any] = {"client": BRIDGE, "instrument": INST, "op": op,
                            "cid": f"fz-{rng.randrange(10**6)}"}  # fmt: skip
    if op in ("submit", "bracket"):
        body.update(action=rng.choice(["Buy", "SellShort", "Sell"]), quantity=1,
                    order_type=rng.choice(["Limit", "Market", "StopMarket"]),
                    limit_price=PX - 2.0, stop_price=PX + 2.0)  # fmt: skip
    if op == "bracket":
        body.update(stop_ticks=8, target_ticks=8)
        if rng.random() < 0.5:
            body.update(targets_ticks=[4, 8], target_sizes=[1, 1])
            body.pop("target_ticks")
    if op == "change":
        body.update(quantity=1, limit_price=PX - 1.0, stop_price=0.0)
    return body


def report(rng: random.Random) -> dict[str, Any]:
    return {"type": "report", "t": T0, "positions": [
        {"instrument": INST, "market_position": "Long", "quantity": 1, "average_price": PX,
         "account": "Sim101"}] if rng.random() < 0.5 else [],
        "orders": [{"instrument": INST, "cid": f"fz-{rng.randrange(50)}", "state": "Working",
                    "quantity": 1, "filled": 0, "action": "Sell", "order_type": "StopMarket",
                    "limit_price": 0.0, "stop_price": PX - 5.0, "oco": "", "order_id": "9",
                    "account": "Sim101"}] if rng.random() < 0.5 else []}  # fmt: skip


# ---- mutation -------------------------------------------------------------------------------


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``doc`` (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for k, v in items:
        out.append((*prefix, k))
        out += paths(v, (*prefix, k))
    return out


def mutate(rng: random.Random, doc: Any) -> Any:
    """``doc`` with one to three of its fields replaced, removed, duplicated or added to."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        every = paths(doc)
        if not every:
            return hostile(rng)
        path = rng.choice(every)
        node = doc
        for key in path[:-1]:
            node = node[key]
        key = path[-1]
        action = rng.randrange(10)
        if action == 7 and isinstance(node, dict):
            del node[key]
            continue
        if action == 8 and isinstance(node, dict):
            key = rng.choice(["extra", "Price", "type", "t ", "__proto__"])
            node[key] = hostile(rng)
        elif action == 9 and isinstance(node[key], list) and node[key]:
            node[key] = node[key] * rng.choice([2, 50, 2_000])  # a long array of valid items
        else:
            node[key] = hostile(rng)
        if not nodes(doc, MAX_NODES):  # the node may be shared by a long array: keep it small
            node[key] = rng.choice([2**63, -1, math.nan, "", None, 1e300])
    return doc


#: values in one case at most (a long array of nested values would take gigabytes to write)
MAX_NODES = 200_000


def nodes(doc: Any, limit: int) -> bool:
    """Whether ``doc`` holds at most ``limit`` values (stops counting beyond)."""
    stack, seen = [doc], 0
    while stack:
        v = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(v, dict):
            stack += v.values()
        elif isinstance(v, list):
            stack += v
    return True


def to_json(doc: Any) -> bytes:
    """JSON as a careless or hostile client writes it: NaN, Infinity and huge integers
    included, and :class:`Raw` tokens verbatim."""
    raws: dict[str, str] = {}

    def swap(v: Any) -> Any:
        if isinstance(v, Raw):
            mark = f"\x01raw{len(raws)}\x01"
            raws[mark] = str(v)
            return mark
        if isinstance(v, dict):
            return {str(k): swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(doc), allow_nan=True, ensure_ascii=False)
    for mark, raw in raws.items():
        text = text.replace(json.dumps(mark, ensure_ascii=False), raw)
    return text.encode("utf-8", "surrogatepass")


def to_msgpack(doc: Any) -> bytes:
    """MessagePack of ``doc``; integers beyond 64 bits (which MessagePack cannot carry) are
    clamped to its edges, Raw tokens sent as the float they spell."""

    def fit(v: Any) -> Any:
        if isinstance(v, Raw):
            try:
                return float(v)
            except ValueError:
                return str(v)
        if isinstance(v, bool) or not isinstance(v, int | dict | list):
            return v
        if isinstance(v, int):
            return max(-(2**63), min(2**64 - 1, v))
        if isinstance(v, dict):
            return {str(k): fit(x) for k, x in v.items()}
        return [fit(x) for x in v]

    return msgspec.msgpack.encode(fit(doc))


def damage(rng: random.Random, body: bytes) -> bytes:
    """A body broken as a transport or a bug breaks it."""
    kind = rng.randrange(7)
    if kind == 0 and body:
        return body[: rng.randrange(len(body))]
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 2 and body:
        b = bytearray(body)
        for _ in range(rng.randrange(1, 5)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == 3:
        return b"[" * 100_000 + b"]" * 100_000
    if kind == 4:
        return b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    if kind == 5:
        return rng.choice([b"", b"null", b"[]", b"1", b'"x"', b"{}", b"\xff\xfe", b"\x00" * 64])
    return body + rng.choice([b"}", b"garbage", b"\x00", b" " * 1000])


# ---- cases ----------------------------------------------------------------------------------

REST_ROUTES = ("/l2_update", "/bar_update", "/order_update", "/api/commands", "/api/kill",
               "/api/kill/reset")  # fmt: skip
GET_ROUTES = ("/api/book/{x}", "/api/analytics/{x}", "/api/orders/{x}", "/api/journal/trades",
              "/api/journal/events", "/api/journal/pnl", "/api/journal/stats")  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One fuzz case: REST (``method``, ``route``, ``body``) or a WebSocket frame
    (``route`` is ``ws:json`` or ``ws:msgpack``, ``body`` the frame)."""

    number: int
    method: str
    route: str
    body: bytes | str

    def show(self, limit: int = 300) -> str:
        body = self.body if isinstance(self.body, str) else self.body[:limit]
        return f"{self.method} {self.route} {body[:limit]!r}" + (
            f" ... ({len(self.body)} bytes)" if len(self.body) > limit else ""
        )


def valid_rest(rng: random.Random, route: str) -> Any:
    if route == "/l2_update":
        return batch(rng, rng.choice(["l2", "l2", "columns"]))
    if route == "/bar_update":
        return batch(rng, "bars")
    if route == "/order_update":
        return batch(rng, "orders")
    if route == "/api/commands":
        return command(rng)
    return {"client": BRIDGE, "reason": "fuzz"} if rng.random() < 0.7 else {}


def valid_ws(rng: random.Random) -> Any:
    kind = rng.randrange(10)
    if kind < 6:
        b = batch(rng, rng.choice(["l2", "columns", "bars", "orders"]))
        return {"type": "batch", **b, "seq": rng.randrange(1, 10**6)}
    if kind == 6:
        status = rng.choice(["done", "refused"])
        return {"type": "command_ack", "cid": f"fz-{rng.randrange(9)}", "reason": "",
                "command_seq": rng.randrange(1, 9), "status": status}  # fmt: skip
    if kind == 7:
        return report(rng)
    if kind == 8:
        return {"type": "hello", "protocol": 1, "client": "again"}
    return {"type": "heartbeat", "t": T0}


def make_case(seed: int, number: int) -> Case:
    rng = random.Random(f"{seed}:{number}")
    roll = rng.random()
    if roll < 0.1:  # reads: path-like names and hostile query strings
        route = rng.choice(GET_ROUTES)
        name = str(rng.choice([*NAMES, hostile(rng)]))
        query = rng.choice(["", f"?levels={hostile(rng)}", f"?day={hostile(rng)}",
                            f"?client={hostile(rng)}&limit={hostile(rng)}",
                            f"?kind={hostile(rng)}&since={hostile(rng)}"])  # fmt: skip
        path = route.replace("{x}", quote(name, safe=""))
        return Case(number, "GET", path + quote(query, safe="?=&"), b"")
    if roll < 0.7:
        route = rng.choice(REST_ROUTES)
        doc = valid_rest(rng, route)
        if rng.random() < 0.9:
            doc = mutate(rng, doc)
        body = to_json(doc)
        if rng.random() < 0.12:
            body = damage(rng, body)
        return Case(number, "POST", route, body[:BODY_LIMIT])
    encoding = rng.choice(["json", "msgpack"])
    doc = valid_ws(rng)
    first = ":first" if doc["type"] == "hello" else ""  # a hello opens a connection of its own
    doc = mutate(rng, doc) if rng.random() < 0.9 else doc
    frame: bytes | str = to_json(doc).decode("utf-8", "replace") if encoding == "json" else (
        to_msgpack(doc))  # fmt: skip
    if rng.random() < 0.1:
        raw = damage(rng, frame.encode() if isinstance(frame, str) else frame)
        frame = raw.decode("utf-8", "replace") if encoding == "json" else raw
    return Case(number, "WS", f"ws:{encoding}{first}", frame)


# ---- the run --------------------------------------------------------------------------------


@dataclass
class Findings:
    seed: int
    failures: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cases: int = 0

    def fail(self, case: Case | None, what: str) -> None:
        where = (
            f"seed {self.seed} case {case.number}: {case.show()}" if case else f"seed {self.seed}"
        )
        self.failures.append(f"{where}\n    -> {what}")


class Bystander:
    """The bridge beside the fuzzer: real ESH4 depth batches over the WebSocket, one at a
    time, then heartbeats until the fuzz ends; every batch must be acknowledged, every
    heartbeat answered, and the connection must stay up."""

    def __init__(self, url: str, batches: list[Any], findings: Findings) -> None:
        self.url, self.batches, self.findings = url, batches, findings
        self.acked = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with connect(self.url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": BRIDGE}))
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome", welcome
            seq = welcome["last_seq"]
            try:
                for fb in self.batches[seq:]:
                    if self.stop.is_set():
                        break
                    seq += 1
                    await ws.send(msgspec.json.encode(msgspec.structs.replace(fb.batch, seq=seq))
                                  .decode())  # fmt: skip
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        if msg["type"] in ("ack", "error") and msg.get("seq") == seq:
                            break
                    self.acked += 1
                    await asyncio.sleep(0.05)
                beat = 0
                while not self.stop.is_set():  # the data is out: still there, still answered?
                    beat += 1
                    await ws.send(json.dumps({"type": "heartbeat", "t": beat}))
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        if msg["type"] == "heartbeat" and msg.get("t") == beat:
                            break
                    await asyncio.sleep(0.2)
            except (ConnectionClosed, TimeoutError) as exc:
                self.findings.fail(None, f"the bystander bridge lost its connection: {exc!r}")


async def ws_open(url: str, encoding: str, name: str) -> ClientConnection:
    ws = await connect(url, max_size=None)
    hello = {"type": "hello", "protocol": 1, "client": name, "encoding": encoding}
    await ws.send(json.dumps(hello) if encoding == "json" else msgspec.msgpack.encode(hello))
    await asyncio.wait_for(ws.recv(), 10)
    return ws


async def ws_sync(ws: ClientConnection, encoding: str, t: int) -> None:
    """A heartbeat and its echo: everything sent before it has been handled."""
    beat = {"type": "heartbeat", "t": t}
    await ws.send(json.dumps(beat) if encoding == "json" else msgspec.msgpack.encode(beat))
    while True:
        raw = await asyncio.wait_for(ws.recv(), 30)
        msg = json.loads(raw) if isinstance(raw, str) else msgspec.msgpack.decode(raw)
        if msg.get("type") == "heartbeat" and msg.get("t") == t:
            return


async def first_frame(serve: Serve, case: Case, findings: Findings) -> None:
    """The case as the first frame of a new connection (a fuzzed hello): a welcome or an
    error, then the connection goes on or is closed with 1008; never 1011 or silence."""
    try:
        async with connect(serve.ws, max_size=None) as ws:
            await ws.send(case.body)
            await asyncio.wait_for(ws.recv(), 30)
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else None
        if code not in (1000, 1008):
            findings.fail(case, f"the server closed the WebSocket: {code} {exc!r}")
    except TimeoutError:
        findings.fail(case, "no answer to a first frame within 30 s")


async def fuzz(serve: Serve, seed: int, batches: list[Any], findings: Findings) -> None:
    bystander = Bystander(serve.ws, batches, findings)
    task = asyncio.get_running_loop().create_task(bystander.run())
    sockets: dict[str, ClientConnection] = {}
    deadline = time.monotonic() + BUDGET_S
    http = httpx.AsyncClient(base_url=serve.http, timeout=30)
    try:
        for number in range(CASES):
            if time.monotonic() > deadline or task.done():
                break
            case = make_case(seed, number)
            findings.cases += 1
            if case.method in ("GET", "POST"):
                try:
                    if case.method == "GET":
                        r = await http.get(case.route)
                    else:
                        json_type = {"content-type": "application/json"}
                        r = await http.post(case.route, content=case.body, headers=json_type)
                except httpx.TransportError as exc:
                    findings.fail(case, f"no answer: {exc!r}")
                    if serve.proc.poll() is not None:
                        break
                    continue
                findings.statuses[r.status_code] = findings.statuses.get(r.status_code, 0) + 1
                if r.status_code >= 500:
                    findings.fail(case, f"{r.status_code} {r.text[:300]}")
                    await http.aclose()  # the server may close it: later cases use a new one
                    http = httpx.AsyncClient(base_url=serve.http, timeout=30)
                elif (case.method == "POST" and r.status_code >= 400
                      and not r.json().get("error", {}).get("message")):  # fmt: skip
                    findings.fail(case, f"{r.status_code} without an error message: {r.text}")
                continue
            encoding = case.route.split(":")[1]
            if case.route.endswith(":first"):
                await first_frame(serve, case, findings)
                continue
            ws = sockets.get(encoding)
            try:
                if ws is None:
                    ws = sockets[encoding] = await ws_open(serve.ws, encoding, f"fz-{encoding}")
                await ws.send(case.body)
                await ws_sync(ws, encoding, number + 1)
            except ConnectionClosed as exc:
                sockets.pop(encoding, None)
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code not in (1000, 1008):  # bye, or a refused hello / rate limit
                    findings.fail(case, f"the server closed the WebSocket: {code} {exc!r}")
            except TimeoutError:
                sockets.pop(encoding, None)
                findings.fail(case, "no answer on the WebSocket within 30 s")
    finally:
        await http.aclose()
    for ws in sockets.values():
        await ws.close()
    bystander.stop.set()
    await asyncio.wait_for(task, 60)
    if bystander.acked == 0:
        findings.fail(None, "the bystander bridge got no ack at all")


def load_feed() -> list[Any]:
    """The bystander's batches (ESH4), and the price the fuzz cases are built around."""
    global PX
    batches = build_batches(load_stream(need(ES_MBO)), 10, 100)
    PX = batches[-1].batch.depth[-1].price
    return batches[:150]


@pytest.fixture(scope="module")
def es_batches() -> list[Any]:
    return load_feed()


def warm_up(serve: Serve, first: Any) -> None:
    """One valid batch, waited for as long as compiling the kernels takes (a cold start is
    another test's subject): the fuzz then meets a server that is up to speed."""
    body = msgspec.json.encode(msgspec.structs.replace(first, seq=0))
    r = http().post(f"{serve.http}/l2_update", content=body, timeout=300)
    assert r.status_code == 200, r.text


def book(serve: Serve) -> dict[str, Any]:
    r = http().get(f"{serve.http}/api/book/ESH4", params={"levels": 500}, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize("seed", SEEDS)
def test_fuzzed_messages_get_no_5xx_and_leave_a_folder_that_restarts(tmp_path, es_batches, seed):
    write_config(tmp_path)
    findings = Findings(seed)
    serve = Serve(tmp_path)
    try:
        warm_up(serve, es_batches[0].batch)
        asyncio.run(fuzz(serve, seed, es_batches, findings))
        alive = serve.proc.poll() is None
        if not alive:
            findings.fail(None, f"the server died:\n{serve.output()[-3000:]}")
        else:
            try:
                before = book(serve)
                health = http().get(f"{serve.http}/health", timeout=30).json()
                assert health["status"] == "ok", health["status"]
                if not health["journal"]["ok"]:  # bad input must never stop the journal
                    findings.fail(None, f"the journal fails after the fuzz: {health['journal']}")
            except (AssertionError, httpx.TransportError) as exc:
                findings.fail(None, f"the server is not serving after the fuzz: {exc!r}")
                alive = False
    finally:
        serve.kill()
    print(f"seed {seed}: {findings.cases} cases, answers {sorted(findings.statuses.items())}")
    if alive:
        again = _restart(tmp_path, findings)
        if again is not None:
            try:
                health = http().get(f"{again.http}/health", timeout=30).json()
                if health["status"] != "ok":
                    findings.fail(None, f"/health after the restart: {health['status']}")
                after = book(again)
                if after != before:
                    findings.fail(None, "the book after the restart is not the book before the "
                                  f"kill:\n{before}\n{after}")  # fmt: skip
            finally:
                again.kill()
    assert not findings.failures, (
        f"{len(findings.failures)} failures (reproduce: python -m tests.chaos.test_fuzz SEED "
        "CASE):\n" + "\n".join(findings.failures[:40])
    )


def _restart(folder: Path, findings: Findings) -> Serve | None:
    """``orderflow serve`` again on the folder (None, noted as a failure, when it fails)."""
    try:
        return Serve(folder, timeout_s=60)
    except AssertionError as exc:
        findings.fail(None, f"orderflow serve does not start again on the folder: ...{exc}"[-3000:])
        return None


if __name__ == "__main__":  # python -m tests.chaos.test_fuzz SEED CASE [CASE...]
    load_feed()
    for arg in sys.argv[2:]:
        print(make_case(int(sys.argv[1]), int(arg)).show(limit=4000))
