"""The page's MessagePack decoder (``static/msgpack.js``, the stream worker's) in a real
Chromium: the viewer stream's binary frames of ESH4 (snapshot and deltas, as the server sends
them) decode to exactly what ``JSON.parse`` makes of the JSON text of the same frames; every
MessagePack form the encoder can write decodes to the value JSON gives (integers at each
width's edges, 64-bit times rounded as JSON.parse rounds them, floats, UTF-8 strings of every
length class, long arrays and maps); float32 decodes; truncated input, a length past the end,
an ext type and trailing bytes throw."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import msgspec
import orjson
import pytest

from orderflow.server.app import create_app
from orderflow.server.threaded import ThreadedServer
from tests.browser.conftest import Page
from tests.unit.server.test_view_binary import sent

DECODE = """async (items) => {
  const { decode } = await import("/static/msgpack.js");
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return items.map(([b64, text]) => {
    try {
      const got = decode(bytes(b64));
      const shown = JSON.stringify(got);
      return text === null ? shown : shown === JSON.stringify(JSON.parse(text));
    } catch (e) {
      return `throws: ${e.constructor.name}`;
    }
  });
}"""


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Page]:
    server = ThreadedServer(create_app())
    p = Page(browser, f"{server.http}/static/dashboard.css")  # any page of the origin
    yield p
    p.close()
    server.stop()


def b64(data: str | bytes) -> str:
    assert isinstance(data, bytes)
    return base64.b64encode(data).decode()


def test_the_stream_frames_decode_to_their_json(page: Page) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # its own event loop: Playwright runs one here
        frames = pool.submit(sent).result()
    pairs = [(b64(packed), text) for text, packed in zip(frames[0], frames[1], strict=True)]
    assert len(pairs) > 10
    assert page.js(DECODE, pairs) == [True] * len(pairs)
    assert page.errors == []


EDGES: list[Any] = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53, 2**53 + 1, 2**63 - 1,
    2**64 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**53) - 1,
    -(2**63), 1703546955750000000, 1703546784321274235, 0.1, -2.5, 4809.75, 1e300, 5e-324,
    4810.246666666667, True, False, None, "", "ask", "é€😀", "x" * 31, "y" * 32, "z" * 255,
    "w" * 256, "v" * 70_000, list(range(15)), list(range(16)), list(range(70_000)),
    {f"k{i}": i for i in range(15)}, {f"k{i}": [i, {"n": None}] for i in range(16)},
    {"nested": [[1, [2, [3, {"a": [-1.5]}]]], {}], "": []},
]  # fmt: skip


def test_every_form_decodes_to_the_value_json_gives(page: Page) -> None:
    items = [(b64(msgspec.msgpack.encode(v)), orjson.dumps(v).decode()) for v in EDGES]
    got = page.js(DECODE, items)
    assert got == [True] * len(items), [
        v for v, ok in zip(EDGES, got, strict=True) if ok is not True
    ]


def test_float32_decodes_and_malformed_input_throws(page: Page) -> None:
    f32 = b"\xca" + struct.pack(">f", 1.5)
    ok = msgspec.msgpack.encode([1, 2, 3])
    items: list[tuple[str, None]] = [
        (b64(f32), None),
        (b64(ok[:-1]), None),  # truncated
        (b64(b"\xdd\xff\xff\xff\xff"), None),  # an array of 4 billion items in 5 bytes
        (b64(b"\xd4\x01\x00"), None),  # fixext 1
        (b64(ok + b"\x00"), None),  # trailing bytes
        (b64(b"\xd9\x02\xc3\x28"), None),  # a string that is not UTF-8
    ]
    assert page.js(DECODE, items) == ["1.5", "throws: RangeError", "throws: RangeError",
                                      "throws: TypeError", "throws: RangeError",
                                      "throws: TypeError"]  # fmt: skip
