"""Protocol 2's answers in process: cluster ids live as long as their cluster, evidence prices
leave in exchange units, and clusters and profile go to each client in full once per change
(after its hello or a state request: in full again), else as unchanged."""

from __future__ import annotations

import msgspec
import pytest

from orderflow.analytics.clusters import ClusterIds
from orderflow.core.errors import NotFoundError
from orderflow.model.instruments import get_instrument
from orderflow.protocol import (
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOLS,
    Ack,
    Bar,
    Batch,
    Depth,
    ServerMessage,
    State,
    StateRequest,
    Tick,
    decode_client,
    encode,
)
from orderflow.server.answers import evidence_prices, strength01
from orderflow.server.hub import Hub

ES = get_instrument("ESH4")
T0 = 1_703_545_200_000_000_000


def test_an_id_lasts_as_long_as_its_cluster_and_is_never_given_again():
    ids = ClusterIds()
    a, b = (0, 100, T0), (1, 104, T0)  # (side, low, first_ns)
    assert ids.assign([a, b]) == [1, 2]
    assert ids.assign([b, a]) == [2, 1]  # the same clusters, the same ids
    assert ids.assign([a]) == [1]  # b ended
    assert ids.assign([a, b]) == [1, 3]  # b again: a new cluster
    assert ids.assign([(0, 100, T0 + 5)]) == [4]  # a bucket that qualified again


def test_evidence_prices_leave_in_exchange_units_and_distances_in_ticks():
    ev = {"price": 19201, "prices": [19201, 19202], "extreme_price": 19203,
          "start_price": None, "run_ticks": 6, "ticks_from_touch": 2, "volume": 19201}  # fmt: skip
    assert evidence_prices(ev, ES) == {
        "price": 4800.25, "prices": [4800.25, 4800.5], "extreme_price": 4800.75,
        "start_price": None, "run_ticks": 6, "ticks_from_touch": 2, "volume": 19201,
    }  # fmt: skip


def test_strength_is_0_at_the_threshold_and_rises_towards_1():
    assert strength01(1.0) == 0.0 and strength01(2.0) == 0.5 and strength01(4.0) == 0.75
    assert strength01(0.5) == 0.0  # both thresholds off: a bucket below the mean


def _depth(side: str, pos: int, price: float, size: int) -> Depth:
    return Depth(t=T0 + pos, side=side, op="add", pos=pos, price=price, size=size)  # type: ignore[arg-type]


BOOK = Batch(
    instrument="ES 03-24",
    seq=1,
    depth=[_depth("bid", 0, 4800.0, 100), _depth("bid", 1, 4799.0, 5),
           _depth("bid", 2, 4798.0, 5), _depth("ask", 0, 4800.25, 5),
           _depth("ask", 1, 4801.0, 5), _depth("ask", 2, 4802.0, 5)],
    ticks=[Tick(t=T0 + 9, price=4800.25, size=30, bid=4800.0, ask=4800.25),
           Tick(t=T0 + 9, price=4801.0, size=1, bid=4800.0, ask=4800.25),
           Tick(t=T0 + 9, price=4799.0, size=1, bid=4800.0, ask=4800.25)],
)  # fmt: skip


def _bar(seq: int) -> Batch:
    bar = Bar(series=0, t=T0, open=4800.0, high=4800.25, low=4800.0, close=4800.25, volume=3,
              closed=False)  # fmt: skip
    return Batch(instrument="ES 03-24", seq=seq, bars=[bar])


def test_full_once_per_change_per_client_and_after_a_state_request():
    hub = Hub()
    ack, _ = hub.apply(BOOK, "nt8")
    cl, pr = ack.clusters, ack.profile
    assert cl is not None and pr is not None
    assert cl["state"] == "full" and cl["version"] == 1
    fields = ("id", "kind", "low", "high", "size", "side")
    assert [tuple(c[k] for k in fields) for c in cl["items"]] == [
        ("liq-bid-1", "liquidity", 4800.0, 4800.75, 100, "bid"),
        ("vol-1", "volume", 4800.0, 4800.75, 30, "buy"),
    ]
    assert pr == {"state": "full", "version": 1, "poc": 4800.25, "vah": 4800.25,
                  "val": 4800.25, "hvn": pr["hvn"], "lvn": pr["lvn"], "volume": 32}  # fmt: skip
    assert ack.metrics["bid_ask_ratio"] == [{"levels": 1, "ratio": 20.0},
                                            {"levels": 5, "ratio": 110 / 15},
                                            {"levels": 10, "ratio": 110 / 15}]  # fmt: skip
    # nothing changed: unchanged, for this client; another client's first answer is full
    ack, _ = hub.apply(_bar(2), "nt8")
    # as_of_ns: the data time up to which the clusters the client holds still stand
    assert ack.clusters == {"state": "unchanged", "version": 1, "items": None, "as_of_ns": T0 + 9}
    assert ack.profile is not None and ack.profile["state"] == "unchanged"
    assert ack.profile["poc"] is None and ack.profile["version"] == 1
    other, _ = hub.apply(_bar(1), "chart")
    assert other.clusters is not None and other.clusters["state"] == "full"
    # a state request: the whole state, and the next answer is full again
    state = hub.state_answer("ES 03-24", "nt8")
    assert isinstance(state, State) and state.instrument == "ESH4"
    assert state.clusters["items"] == cl["items"] and state.profile == {**pr}
    ack, _ = hub.apply(_bar(3), "nt8")
    assert ack.clusters is not None and ack.clusters["state"] == "full"
    ack, _ = hub.apply(_bar(4), "nt8")
    assert ack.clusters is not None and ack.clusters["state"] == "unchanged"
    # a print: the volume cluster and the profile change, the liquidity cluster keeps its id
    more = Batch(instrument="ES 03-24", seq=5, ticks=[Tick(t=T0 + 20, price=4800.0, size=40)])
    ack, _ = hub.apply(more, "nt8")
    assert ack.clusters is not None and ack.clusters["version"] == 2
    assert [c["id"] for c in ack.clusters["items"]] == ["liq-bid-1", "vol-1"]
    assert ack.clusters["items"][1]["size"] == 70 and ack.clusters["items"][1]["side"] == "sell"
    assert ack.profile is not None and ack.profile["state"] == "full"
    assert ack.profile["volume"] == 72 and ack.profile["version"] == 2
    hub.answers.forget("nt8")  # a new hello
    ack, _ = hub.apply(_bar(6), "nt8")
    assert ack.clusters is not None and ack.clusters["state"] == "full"
    with pytest.raises(NotFoundError):
        hub.state_answer("NQ 03-24", "nt8")


def test_a_version_1_reader_decodes_a_version_2_ack_and_the_new_messages_decode():
    hub = Hub()
    ack, _ = hub.apply(BOOK, "nt8")
    assert PROTOCOL_VERSION == 2 and SUPPORTED_PROTOCOLS == (1, 2)

    class AckV1(msgspec.Struct, tag="ack"):  # the version 1 struct, as an old client has it
        seq: int
        instrument: str
        duplicate: bool
        applied: dict[str, int]
        rejected: dict[str, int]
        stale: bool
        book: dict[str, object]
        metrics: dict[str, object]
        signals: list[dict[str, object]]
        processing_us: float
        first_seq: int = 0

    old = msgspec.json.decode(encode(ack), type=AckV1)
    assert (old.seq, old.book) == (ack.seq, ack.book)
    assert msgspec.json.decode(encode(ack), type=ServerMessage) == ack
    assert msgspec.msgpack.decode(encode(ack, "msgpack"), type=Ack) == ack
    state = hub.state_answer("ESH4", None)
    assert msgspec.json.decode(encode(state), type=ServerMessage) == state
    assert decode_client('{"type": "state_request", "instrument": "ES 03-24"}') == StateRequest(
        "ES 03-24"
    )


def test_the_refresh_and_the_strength_steps_are_settings_with_bounds(tmp_path):
    from orderflow.core.errors import ConfigError
    from orderflow.server.app import create_app
    from orderflow.settings import load_settings

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "server:\n  cluster_refresh_ms: 0\nanalytics:\n  clusters: {strength_steps: 4}\n"
    )
    s = load_settings(cfg)
    assert s.server.cluster_refresh_ms == 0 and s.analytics.clusters.strength_steps == 4
    bads = [
        ("server:\n  cluster_refresh_ms: -1\n", "server.cluster_refresh_ms"),
        ("server:\n  cluster_refresh_ms: 3600001\n", "server.cluster_refresh_ms"),
        ("analytics:\n  clusters: {strength_steps: 0}\n", "strength_steps"),
    ]
    for bad, key in bads:
        cfg.write_text(bad)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(cfg)
    # create_app hands the setting to the answers, also of instruments already known
    hub = Hub()
    hub.apply(BOOK, "nt8")
    create_app(hub=hub, cluster_refresh_ms=250.0)
    assert hub.answers.refresh_ms == 250.0
    assert {ia.refresh_ns for ia in hub.answers.of.values()} == {250_000_000}


def test_with_no_refresh_every_change_is_read_and_a_size_change_is_sent():
    hub = Hub(cluster_refresh_ms=0)
    hub.apply(BOOK, "nt8")
    bid = Depth(t=T0 + 30, side="bid", op="update", pos=0, price=4800.0, size=101)
    more = Batch(instrument="ES 03-24", seq=2, depth=[bid])
    ack, _ = hub.apply(more, "nt8")
    assert ack.clusters is not None and ack.clusters["state"] == "full"
    assert ack.clusters["items"][0]["size"] == 101  # within a strength step: read at once
    lean = Hub()  # the default 30 s: the same size change waits for a refresh
    lean.apply(BOOK, "nt8")
    ack, _ = lean.apply(more, "nt8")
    assert ack.clusters is not None and ack.clusters["state"] == "unchanged"
    assert ack.clusters["as_of_ns"] == T0 + 30
