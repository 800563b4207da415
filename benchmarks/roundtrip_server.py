"""``orderflow serve`` with a stage probe installed (``orderflow.server.stages``), for
``bench_roundtrip.py``: every mark of the live path is taken, and uvicorn's ``data_received``
is hooked for the moment a frame's bytes come off the socket. Stopped with SIGINT, it saves the
kept rows (one per ack written) to the ``.npy`` file named first, and the garbage collector's
runs after the first kept row (generation, ns it took, its start on the probe's clock) beside
it (``NAME.gc.npy``):

    python benchmarks/roundtrip_server.py OUT.npy --config CFG serve --port PORT
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

import numpy as np
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from orderflow.server import stages


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    probe = stages.StageProbe()
    stages.install(probe)
    received = WebSocketsSansIOProtocol.data_received
    row, clock = probe.current, time.perf_counter_ns

    def data_received(self: Any, data: bytes) -> None:
        row[stages.DATA_IN] = clock()
        received(self, data)

    WebSocketsSansIOProtocol.data_received = data_received  # type: ignore[method-assign]
    # the garbage collector's runs once the first round trip was kept (generation, ns, start)
    collections: list[tuple[int, int, int]] = []
    began = [0]

    def collected(phase: str, info: dict[str, Any]) -> None:
        if probe.n == 0:
            return
        if phase == "start":
            began[0] = clock()
        else:
            collections.append((info["generation"], clock() - began[0], began[0]))

    gc.callbacks.append(collected)
    from orderflow.cli.main import main as cli

    sys.argv = ["orderflow", *argv]
    try:
        cli()
    finally:  # stopped with SIGINT: uvicorn shuts down, then raises KeyboardInterrupt
        np.save(out, probe.kept())
        np.save(out.removesuffix(".npy") + ".gc.npy", np.array(collections, dtype=np.int64))


if __name__ == "__main__":
    main()
