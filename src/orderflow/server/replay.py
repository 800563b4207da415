"""The playback control of a replay the server plays (``orderflow run``, ``orderflow replay``):
play, pause, speed, seek. The feeder asks it when each batch is due; the dashboard changes it
through ``POST /api/replay``. Thread-safe (the feeder runs in a thread of its own).

Pacing: a batch whose last event is at data time ``t`` is due at ``wall_anchor + (t -
ts_anchor) / speed``; every change (play, speed, the end of a seek) re-anchors at the current
position, so a change takes effect from where the replay is. A seek forward feeds at full
speed until the position reaches the target, then paces again. A seek back replays from the
start at full speed up to the target, after the market state was dropped; only a replay that
does not trade may do that (an account's orders and fills cannot be undone): else 409.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from orderflow.core.errors import ConflictError, QueryValueError

__all__ = ["MAX_SPEED", "MIN_SPEED", "Playback"]

MIN_SPEED, MAX_SPEED = 0.25, 600.0
_ACTIONS = ("play", "pause", "speed", "seek")


class Playback:
    """One replay's controls and position (see the module). ``speed`` None: as fast as
    possible until a speed is set."""

    def __init__(self, source: str, start_ts: int, end_ts: int, *, speed: float | None = 1.0,
                 playing: bool = True, can_seek_back: bool = True, pace_from_ts: int = 0,
                 hold: bool = False,
                 on_restart: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.source = source
        self.start_ts, self.end_ts = int(start_ts), int(end_ts)
        self.can_seek_back = can_seek_back
        #: batches before this data time go at full speed (the pre-open before the first print)
        self.pace_from_ts = int(pace_from_ts)
        #: the feeder waits at the end for a seek back instead of ending the replay
        self.hold = hold
        #: drops the market state before the feeder starts again (a seek back)
        self.on_restart = on_restart
        self._lock = threading.Lock()
        self.playing = playing
        self.speed = speed
        self.position_ts = int(start_ts)
        self.seek_ts: int | None = None
        #: a seek back asked for: the feeder starts again from the beginning (then clears it)
        self.restart = False
        self.finished = False
        self._wall = time.perf_counter()
        self._ts = int(start_ts)
        self._paced = False  # the anchor is set by the first paced batch

    # ---- the feeder's side -----------------------------------------------------------------
    def due_in(self, t_event: int) -> float:
        """Seconds until the batch whose last event is at ``t_event`` is due (0: now;
        ``inf``: paused)."""
        with self._lock:
            if self.restart:
                return 0.0
            if self.seek_ts is not None:
                if t_event <= self.seek_ts:
                    return 0.0
                # everything up to the target was fed: the position is the target
                self.position_ts = max(self.position_ts, self.seek_ts)
                self._anchor(self.seek_ts)
                self.seek_ts = None
            if t_event < self.pace_from_ts:
                return 0.0
            if not self.playing:
                return float("inf")
            if self.speed is None:
                return 0.0
            if not self._paced:
                self._paced = True
                self._anchor(t_event)
            return self._wall + (t_event - self._ts) / 1e9 / self.speed - time.perf_counter()

    def sent(self, t_event: int) -> None:
        """The batch up to ``t_event`` was fed."""
        with self._lock:
            if not self.restart:
                self.position_ts = max(self.position_ts, int(t_event))

    def done(self) -> None:
        """Every batch was fed (a seek to the end is over too)."""
        with self._lock:
            self.finished = True
            if self.seek_ts is not None:
                self.position_ts = max(self.position_ts, self.seek_ts)
                self.seek_ts = None

    def restart_market(self) -> None:
        """Drop the market state and start again from the beginning (the feeder calls it
        when :attr:`restart` is set, once every batch it sent was acknowledged)."""
        if self.on_restart is not None:
            self.on_restart()
        with self._lock:
            self.restart = False
            self.finished = False
            self.position_ts = self.start_ts

    def _anchor(self, ts: int) -> None:
        self._wall, self._ts = time.perf_counter(), int(ts)

    # ---- the dashboard's side --------------------------------------------------------------
    def act(self, action: Any, speed: Any = None, ts: Any = None) -> dict[str, Any]:
        """Apply one control (RequestError naming the field when a value is wrong;
        ConflictError for a seek back the replay cannot do); the state after it."""
        if action not in _ACTIONS:
            raise QueryValueError(f"action: one of {', '.join(_ACTIONS)}", field="action")
        if action == "speed" and (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not (MIN_SPEED <= float(speed) <= MAX_SPEED)
        ):
            raise QueryValueError(f"speed: a number from {MIN_SPEED:g} to {MAX_SPEED:g}",
                               field="speed")  # fmt: skip
        if action == "seek" and (
            isinstance(ts, bool) or not isinstance(ts, int)
            or not self.start_ts <= ts <= self.end_ts
        ):  # fmt: skip
            raise QueryValueError(f"ts: an integer ns from {self.start_ts} to {self.end_ts}",
                               field="ts")  # fmt: skip
        with self._lock:
            if action == "play":
                self.playing = True
                self._anchor(self.position_ts)  # unpaced yet: the next paced batch anchors
            elif action == "pause":
                self.playing = False
            elif action == "speed":
                self.speed = float(speed)
                self._anchor(self.position_ts)
            elif ts >= self.position_ts:
                self.seek_ts = int(ts)
            elif not self.can_seek_back:
                raise ConflictError(
                    "ts: this replay trades (its orders and fills cannot be undone), so it "
                    "cannot seek back", field="ts")  # fmt: skip
            elif self.finished and not self.hold:
                raise ConflictError("ts: the replay has ended", field="ts")
            else:
                self.seek_ts, self.restart = int(ts), True
            return self._state()

    def state(self) -> dict[str, Any]:
        """REPLAY of the wire."""
        with self._lock:
            return self._state()

    def _state(self) -> dict[str, Any]:
        return {"playing": self.playing, "speed": self.speed, "position_ts": self.position_ts,
                "start_ts": self.start_ts, "end_ts": self.end_ts,
                "can_seek_back": self.can_seek_back, "source": self.source,
                "seeking_to": self.seek_ts, "finished": self.finished}  # fmt: skip

    def lag_ms(self, last_ts: int) -> float:
        """How far (wall ms) the data clock at ``last_ts`` is behind the pacing target; 0
        when paused, seeking or unpaced."""
        with self._lock:
            if not self.playing or self.speed is None or not self._paced or self.seek_ts:
                return 0.0
            target = self._ts + (time.perf_counter() - self._wall) * self.speed * 1e9
            return max(0.0, (target - last_ts) / self.speed / 1e6)
