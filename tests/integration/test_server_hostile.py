"""Hostile input against the real server: random and mutated bodies over REST, random frames
over the WebSocket. The server never answers 500, never drops the connection for bad data,
and keeps serving (Hypothesis drives the inputs)."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.integration.test_server import Server
from tests.serving import http

T0 = 1_703_545_200_000_000_000  # 2023-12-25 23:00 UTC
# what a request may take: the property is "never a 500", not a latency; httpx's 5 s default
# read timeout was once exceeded in the full suite under load (Hypothesis then called it flaky)
TIMEOUT = 60.0
VALID = {
    "instrument": "ES 03-24",
    "seq": 0,
    "depth": [{"t": T0 + 1, "side": "bid", "op": "add", "pos": 0, "price": 4810.25, "size": 7}],
    "ticks": [{"t": T0 + 2, "price": 4810.25, "size": 1, "bid": 4810.0, "ask": 4810.25}],
    "bars": [{"series": 0, "t": T0, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
              "volume": 1}],
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)  # fmt: skip


def mutate(draw_value, path_choice: int, value) -> dict:
    """VALID with one field (chosen by ``path_choice``) replaced by ``value``."""
    doc = json.loads(json.dumps(VALID))
    paths = [("instrument",), ("seq",), ("depth", 0, "side"), ("depth", 0, "op"),
             ("depth", 0, "pos"), ("depth", 0, "price"), ("depth", 0, "size"), ("depth", 0, "t"),
             ("ticks", 0, "price"), ("ticks", 0, "size"), ("bars", 0, "series"), ("depth",),
             ("ticks",), ("bars", 0, "volume")]  # fmt: skip
    path = paths[path_choice % len(paths)]
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_bodies_never_500(server, body):
    r = http().post(f"{server.http}/l2_update", content=body, timeout=TIMEOUT)
    assert r.status_code < 500, r.text
    assert "Traceback" not in r.text


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(choice=st.integers(0, 100), value=json_values)
def test_mutated_batches_never_500(server, choice, value):
    body = json.dumps(mutate(None, choice, value), allow_nan=True).encode()
    r = http().post(f"{server.http}/l2_update", content=body, timeout=TIMEOUT)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["error"]["details"]["field"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=st.lists(st.binary(max_size=100) | json_values.map(json.dumps), max_size=5))
def test_random_websocket_frames_get_errors_not_disconnects(server, frames):
    with connect(server.ws) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "fuzz"}))
        assert json.loads(ws.recv())["type"] == "welcome"
        for f in frames:
            ws.send(f)
            answer = ws.recv()
            msg = msgspec.json.decode(answer) if isinstance(answer, str) else {}
            assert msg.get("type") in ("error", "ack", "heartbeat", "snapshot_request"), msg
            if msg.get("type") == "snapshot_request":
                ws.recv()
        ws.send(json.dumps({"type": "heartbeat", "t": 1}))
        assert json.loads(ws.recv())["type"] == "heartbeat"  # still served
    assert http().get(f"{server.http}/health", timeout=TIMEOUT).json()["status"] == "ok"
