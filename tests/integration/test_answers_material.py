"""The lean ack's rule, proven on ESH4 fed as the bridge's batches to an in-process Hub: after
every answer, the clusters a client assembled from its acks (full or unchanged) are the clusters
the trackers hold at that point, whose data time the answer says (``as_of_ns``): the same ids,
kinds, sides, bounds and births, each with its strength in the same step of
``analytics.clusters.strength_steps`` and its ``last_seen_ns`` at most
``server.cluster_refresh_ms`` of data time old; an answer that carried a new version carried
exactly what the trackers said then (size, strength, last seen); the profile's POC and value
area are those of that point; and far fewer answers go in full than when every change is read."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from orderflow.server.answers import strength01
from orderflow.server.hub import Hub
from tests.integration.test_server import esh4_batches

pytestmark = pytest.mark.slow

REFRESH_MS = 10_000.0
STEPS = 10  # analytics.clusters.strength_steps, the default


def _truth(hub: Hub) -> tuple[dict[tuple[Any, ...], dict[str, Any]], int]:
    """What the trackers hold now, read fresh: key (kind, side, low, high, first_ns) -> the
    cluster as the wire has it (without id); and the data time (the later tracker's)."""
    st = hub.instruments["ESH4"]
    pipe, px = st.pipeline, st.instrument.to_price
    now = max(pipe.liquidity_clusters.now_ns, pipe.volume_clusters.now_ns)
    out = {}
    for c in pipe.liquidity_clusters.clusters():
        side = "bid" if int(c.side) == 0 else "ask"
        out[("liquidity", side, px(c.low), px(c.high), c.first_ns)] = {
            "size": c.size, "strength": strength01(c.strength),
            "last_seen_ns": now,
        }  # fmt: skip
    for v in pipe.volume_clusters.clusters():
        side = {0: "buy", 1: "sell"}.get(int(v.side), "none")
        out[("volume", side, px(v.low), px(v.high), v.first_ns)] = {
            "size": v.volume, "strength": strength01(v.strength),
            "last_seen_ns": now,
        }  # fmt: skip
    return out, now


@cache
def fed() -> dict[str, Any]:
    batches, _ = esh4_batches()
    hub = Hub(cluster_refresh_ms=REFRESH_MS)
    model: dict[str, dict[str, Any]] = {}
    rows = []
    for b in batches:
        ack, _ = hub.apply(b, "nt8")
        assert ack.clusters is not None
        new = ack.clusters["state"] == "full"
        if new:
            model = {c["id"]: c for c in ack.clusters["items"]}
        truth, now = _truth(hub)
        assert ack.clusters["as_of_ns"] == now  # what the client holds stands at this time
        prof = hub.instruments["ESH4"].pipeline.profiles.current
        va = prof.value_area() if prof is not None else None
        rows.append((new, dict(model), truth, now, ack.profile, va))
    return {"rows": rows, "hub": hub}


def test_after_every_answer_the_client_holds_the_trackers_clusters_within_the_rule():
    rows = fed()["rows"]
    refresh_ns = round(REFRESH_MS * 1e6)
    exact = 0
    for new, model, truth, now, _, _ in rows:
        held = {(c["kind"], c["side"], c["low"], c["high"], c["first_seen_ns"]): c
                for c in model.values()}  # fmt: skip
        assert held.keys() == truth.keys()  # membership, bounds, sides, births: always now
        for key, c in held.items():
            t = truth[key]
            # the same strength step (a step boundary may round either way)
            assert abs(c["strength"] - t["strength"]) <= 1 / STEPS + 1e-3
            assert 0 <= now - c["last_seen_ns"] <= refresh_ns
            if new and (c["size"], c["strength"], c["last_seen_ns"]) == (
                t["size"], t["strength"], t["last_seen_ns"]
            ):  # fmt: skip
                exact += 1
        if new:  # a new version is exact: what the trackers said at that answer
            assert all(
                (c["size"], c["strength"], c["last_seen_ns"])
                == (truth[k]["size"], truth[k]["strength"], truth[k]["last_seen_ns"])
                for k, c in held.items()
            )
    assert exact > 0


def test_the_profile_poc_and_value_area_are_always_those_of_the_point():
    hub = fed()["hub"]
    inst = hub.instruments["ESH4"].instrument
    shown = None
    for *_, profile, va in fed()["rows"]:
        if profile is not None and profile["state"] == "full":
            shown = profile
        if va is None:
            assert shown is None
            continue
        assert shown is not None
        assert (shown["poc"], shown["val"], shown["vah"]) == tuple(
            inst.to_price(x) for x in (va.poc, va.val, va.vah)
        )


def test_far_fewer_full_answers_than_when_every_change_is_read():
    rows = fed()["rows"]
    fulls = sum(new for new, *_ in rows)
    hub = Hub(cluster_refresh_ms=0)  # every change read, every difference a new version
    batches, _ = esh4_batches()
    before = 0
    for b in batches:
        ack, _ = hub.apply(b, "nt8")
        assert ack.clusters is not None
        before += ack.clusters["state"] == "full"
    # ESH4 on 2023-12-25 is quiet (a batch about every 9 s of data time, about 100 events):
    # a refresh of 10 s still falls due at about every other batch
    assert before > 0.85 * len(rows) and fulls < 0.65 * before, (before, fulls, len(rows))
