"""``make setup``'s two warm-up processes (``orderflow.cli.warmup_jobs``): a part that ends
never leaves the other waiting, a failed part leaves the rest to the warm-up proper, and the
shared stages are compiled for the very types the fused entries pass them (else each entry
would compile its own again)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from orderflow.cli import warmup_jobs
from orderflow.engine import _fused_kernels as F


def test_a_waiting_part_goes_on_when_the_other_signals_or_ends() -> None:
    r, w = os.pipe()
    os.write(w, b"1")
    assert warmup_jobs.wait_for(r) is True  # a step done
    os.close(w)
    assert warmup_jobs.wait_for(r) is False  # the part ended (or closed the pipe): no hang
    os.close(r)
    assert warmup_jobs.wait_for(r) is False  # a closed pipe is not an error either


class _Part:
    def __init__(self, rc: int) -> None:
        self.rc = rc

    def wait(self) -> int:
        return self.rc


def test_a_failed_part_leaves_the_rest_to_the_warm_up_proper(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spawned: list[tuple[str, tuple[int, ...]]] = []

    def spawn(part: str, fds: tuple[int, ...]) -> Any:
        spawned.append((part, fds))
        return _Part(1 if part == "fused" else 0)

    monkeypatch.setattr(warmup_jobs, "_spawn", spawn)
    assert warmup_jobs.main(after=lambda: 3) == 3  # the warm-up proper's status
    for _, fds in spawned:  # the parent kept none of the pipes' ends open
        for fd in fds:
            with pytest.raises(OSError):
                os.fstat(fd)
    assert [p for p, _ in spawned] == ["fused", "rest", "backtest"]
    assert "part fused failed" in capsys.readouterr().err


def test_a_failed_backtest_part_leaves_the_warm_up_proper_s_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backtest part runs beside the warm-up proper; its failure is said, and the status
    is the warm-up proper's (its kernels are then compiled by the first backtest)."""
    monkeypatch.setattr(warmup_jobs, "_spawn", lambda part, fds: _Part(part == "backtest"))
    assert warmup_jobs.main(after=lambda: 0) == 0
    err = capsys.readouterr().err
    assert "part backtest failed" in err and "fused" not in err


def test_the_shared_stages_are_compiled_for_the_entries_own_types() -> None:
    """The warm cache (``make test`` runs on the one ``make setup`` filled) holds each shared
    stage for one signature, the one the parts compile: an entry that passed other types
    would have compiled (and cached) its own beside it."""
    types = warmup_jobs._stage_types()
    for name, stage in (("analytics", F._analytics), ("l2_pull", F._l2_pull)):
        assert len(types[name]) == stage.py_func.__code__.co_argcount
        cached = {key[0] for key in stage._cache._cache_file._load_index()}
        if not cached:
            pytest.skip("numba's cache holds no fused kernel (no warm-up ran)")
        assert cached == {types[name]}, name
