"""The server's warm-up compiles what the live path needs: after it, a batch in any depth form
(rows, list columns, packed columns; JSON or MessagePack, answered in its own encoding's
bytes as a WebSocket session decodes and answers it, and folded into the dashboard's view)
compiles no kernel, so the first live batch never waits for numba."""

from __future__ import annotations

import time

import msgspec

from orderflow.cli.warmup import _warm_server, compiled_kernels
from orderflow.protocol import Batch, Depth, RawRows, Tick, columnar, packed
from orderflow.server.frames import decode_frame
from orderflow.server.hub import Hub


def test_no_depth_form_compiles_a_kernel_after_the_warm_up():
    _warm_server(None)
    before = compiled_kernels()
    t = time.time_ns() - 1_000_000_000
    for reset in (True, False):  # (an IsReset leaves the ladder stale: no heat column)
        b = Batch("ES 03-24", seq=1, ticks=[Tick(t, 4800.25, 1, 4800.0, 4800.25)],
                  depth=[Depth(t, "bid", "add", 0, 4800.0, 3, reset=reset),
                         Depth(t, "ask", "add", 0, 4800.25, 3)])  # fmt: skip
        for form in (b, columnar(b), packed(b)):
            for encoding, frame in (("json", msgspec.json.encode(form).decode()),
                                    ("msgpack", msgspec.msgpack.encode(form))):  # fmt: skip
                msg = decode_frame(frame)  # as the session decodes it
                assert isinstance(msg, Batch)
                # MessagePack rows stay in the frame's bytes, read by their own compiled call
                assert (type(msg.depth) is RawRows) == (form is b and encoding == "msgpack")
                hub = Hub()
                hub.acks_as = encoding  # as the session of that client
                ack, _ = hub.apply(msg, "live")
                assert ack.applied["depth"] == 2
                assert isinstance(ack.book, msgspec.Raw)
                for st in hub.instruments.values():  # the dashboard's fold of what it left
                    iv = hub.view.read(st.pipeline.name)
                    assert (iv.folded, iv.n_prints, iv.heat.synced) == (1, 1, not reset)
    after = compiled_kernels()
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}
