"""The engine scheduler: who goes next, the queue budget's fair shares, and the overload."""

from __future__ import annotations

import asyncio
import time

import pytest

from orderflow.server.scheduler import FairScheduler, OverloadedError


async def _work(sched: FairScheduler, key: str, order: list[str], spin_s: float) -> None:
    async with sched.turn(key, 100):
        order.append(key)
        end = time.perf_counter() + spin_s
        while time.perf_counter() < end:  # engine time, charged to the client
            pass


def test_a_client_waiting_for_its_ack_goes_before_the_backlogged_ones() -> None:
    """Three flooders each with several slices queued, each slice costly; then the bridge asks
    for one: it is granted as soon as the slice running now ends, not after a round."""

    async def main() -> list[str]:
        sched = FairScheduler(slice_ms=1.0)
        order: list[str] = []

        async def flooder(name: str) -> None:
            for _ in range(4):
                await _work(sched, name, order, 0.003)

        tasks = [asyncio.create_task(flooder(f"f{i}")) for i in range(3)]
        while len(order) < 4:  # the flood is under way, every flooder has been charged
            await asyncio.sleep(0)
        await _work(sched, "bridge", order, 0.0)
        await asyncio.gather(*tasks)
        return order

    order = asyncio.run(main())
    assert sorted(order) == sorted(["bridge"] + [f"f{i}" for i in range(3)] * 4)
    assert order.index("bridge") <= 5  # the slice that was running, then the bridge


def test_backlogged_clients_share_turns_in_rounds() -> None:
    async def main() -> list[str]:
        sched = FairScheduler(slice_ms=1.0)
        order: list[str] = []

        async def client(name: str) -> None:
            for _ in range(6):
                await _work(sched, name, order, 0.001)

        await asyncio.gather(*(client(n) for n in ("a", "b", "c")))
        return order

    order = asyncio.run(main())
    for i in range(len(order) - 3):  # no client ever gets ahead of another by more than two
        counts = [order[: i + 1].count(k) for k in "abc"]
        assert max(counts) - min(counts) <= 2, order


def test_the_lone_client_is_granted_without_a_context_switch() -> None:
    async def main() -> int:
        sched = FairScheduler()
        order: list[str] = []
        for _ in range(10):
            await _work(sched, "only", order, 0.0)
        return sched.stats.contended

    assert asyncio.run(main()) == 1  # the first turn only


def test_a_client_over_its_share_of_the_queue_waits_until_its_work_is_applied() -> None:
    async def main() -> tuple[bool, bool, int]:
        sched = FairScheduler(queue_events=1000)
        await sched.admit("a", 600)
        await sched.admit("b", 100)  # two clients: shares of 500
        blocked = asyncio.create_task(sched.admit("a", 100))
        await asyncio.sleep(0.01)
        was_blocked = not blocked.done()
        sched.applied("a", 600)
        await asyncio.wait_for(blocked, 1.0)
        return was_blocked, blocked.done(), sched.queued_events

    was_blocked, done, queued = asyncio.run(main())
    assert was_blocked and done
    assert queued == 200  # b's 100 and a's new 100


def test_work_that_waits_too_long_is_refused_as_overloaded() -> None:
    async def main() -> None:
        sched = FairScheduler(queue_events=1000, max_wait_s=0.05)
        await sched.admit("a", 900)
        await sched.admit("b", 10)
        with pytest.raises(OverloadedError) as err:
            await sched.admit("a", 100)
        assert err.value.code == "overloaded" and err.value.status_code == 503
        assert "status" not in err.value.details  # the status is the class's, not the body's
        assert sched.stats.overloaded == 1

    asyncio.run(main())


def test_a_client_that_goes_away_gives_its_queue_back() -> None:
    async def main() -> int:
        sched = FairScheduler(queue_events=1000)
        await sched.admit("a", 700)
        sched.forget("a")
        return sched.queued_events

    assert asyncio.run(main()) == 0
