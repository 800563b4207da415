"""The server's state: one pipeline per instrument, sequence numbers per client, counters.

Transport-free (REST and WebSocket handlers call :meth:`Hub.apply`), so it is tested and
benchmarked without a socket. Applying a batch is all-or-nothing for its validation: prices are
converted to ticks first, and a batch with a bad price is refused whole (nothing applied).
Who may feed an instrument, and the snapshot requests of a stale ladder: :mod:`.feeds`; a
batch's prices and events as the engine's arrays: :mod:`.wire`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np

from orderflow import __version__
from orderflow.analytics.nt_bars import NtBarParams, NtBars
from orderflow.analytics.trades import AggressorClassifier
from orderflow.core.errors import (
    InstrumentOwnedError,
    NotFoundError,
    OrderflowError,
    RecordingError,
    RequestError,
)
from orderflow.engine.pipeline import Pipeline, PipelineParams
from orderflow.model.enums import Side
from orderflow.model.instruments import Instrument, get_instrument
from orderflow.model.session_times import session_open_ns, trading_day_of
from orderflow.protocol import (
    EARLIEST_NS,
    FUTURE_NS,
    Ack,
    Batch,
    Encoding,
    SnapshotRequest,
    State,
    check_batch,
)
from orderflow.server.ack_steps import NO_SERIES, has_reports
from orderflow.server.after_ack import AfterAck
from orderflow.server.answer_metrics import BOOK_LEVELS, Top, book_metrics_top
from orderflow.server.answer_metrics import metrics as answer_metrics
from orderflow.server.answers import REFRESH_MS, Answers, signal_dict
from orderflow.server.feeds import Feeds
from orderflow.server.journal_start import restore
from orderflow.server.monitor import Alerts
from orderflow.server.outbox import COMMAND_MAX_AGE_NS, Outbox
from orderflow.server.recording import Record, Recorder
from orderflow.server.report_checks import check_batch_reports
from orderflow.server.stages import ACKED, APPLIED, ENGINE_IN, ENGINE_OUT, VALIDATED, mark
from orderflow.server.trading import ServerTrading, ServerTradingParams
from orderflow.server.view import Views
from orderflow.server.wire import (
    commit_conversion,
    convert_batch,
    convert_columns_run,
    convert_exact,
    fast_conversion,
    undo_conversion,
    undo_of,
)
from orderflow.trading.journal import Journal
from orderflow.trading.orders import COMMAND_TIMEOUT_NS
from orderflow.trading.params import TradingParams

__all__ = ["Hub", "InstrumentState"]

#: batches of an instrument before latency counts (the process loads its kernels meanwhile)
WARMUP_BATCHES = 10
#: what applying one batch (or a run of them) gave: the (last) batch, its ack, a snapshot
#: request, or the error that refused it
Outcome = tuple[Batch, Ack | None, SnapshotRequest | None, OrderflowError | None]
#: at most this many batches go through the pipeline together (bounds one ack's delay)
MAX_RUN = 64
#: what :meth:`Hub._rejected` answers for a batch nothing of which was refused (nearly every
#: one): shared, never written to (an ack copies it)
NOTHING_REFUSED: Counter[str] = Counter()


@dataclass(slots=True)
class InstrumentState:
    """One instrument's engine and what the server knows about its feed."""

    instrument: Instrument
    pipeline: Pipeline
    classifier: AggressorClassifier = field(default_factory=lambda: AggressorClassifier("bidask"))
    stale_reason: str | None = None
    batches: int = 0
    depth_events: int = 0
    ticks: int = 0
    #: NinjaTrader's own series (BarsInProgress): bars, bar metrics, the prints beside them
    nt_bars: NtBars | None = None
    rejected: Counter[str] = field(default_factory=Counter)
    last_ts: int = 0
    last_recv_ns: int = 0
    ref_ticks: int | None = None  # the last price seen: the plausibility reference

    def __post_init__(self) -> None:
        if self.nt_bars is None:
            self.nt_bars = NtBars(self.instrument, profile=self.pipeline.params.profile)

    @property
    def bars(self) -> NtBars:
        assert self.nt_bars is not None
        return self.nt_bars

    @property
    def stale(self) -> bool:
        return self.stale_reason is not None or bool(self.pipeline.book.stale)


class Hub:
    """Every instrument's state and every client's last applied sequence number."""

    def __init__(
        self,
        params: PipelineParams | None = None,
        recorder: Recorder | None = None,
        *,
        command_timeout_s: float = COMMAND_TIMEOUT_NS / 1e9,
        historical_only: bool = False,
        command_max_age_s: float = COMMAND_MAX_AGE_NS / 1e9,
        trading: TradingParams | None = None,
        trading_server: ServerTradingParams | None = None,
        journal: Journal | None = None,
        cluster_refresh_ms: float = REFRESH_MS,
    ) -> None:
        self.params = params or PipelineParams()
        #: NinjaTrader's series: relative volume over N bars, ATR length (the pipeline's)
        self.bar_params = NtBarParams(atr_period=self.params.bar_params.atr_period)
        self.recorder = recorder
        self.alerts = Alerts()
        #: order commands in transport (numbering, resend, expiry); orders are the desks'
        self.outbox = Outbox(round(command_timeout_s * 1e9), historical_only, self.alerts.raise_,
                             round(command_max_age_s * 1e9))  # fmt: skip
        self.flags: dict[str, bool] = {"historical_only": historical_only}
        self.instruments: dict[str, InstrumentState] = {}
        self._keys: dict[str, str] = {}  # a client's instrument name -> its key above
        self.last_seq: dict[str, int] = {}
        #: (client, instrument key) -> the instrument's name as that client writes it (a
        #: command to the bridge must name it the bridge's way, e.g. "ES 03-24")
        self.names: dict[tuple[str, str], str] = {}
        self.session = uuid.uuid4().hex[:12]
        self.started = time.time()
        self.counters: Counter[str] = Counter()
        #: who feeds each instrument, and the snapshots stale ladders are asking them for
        self.feeds = Feeds()
        #: clusters and profile per instrument, and what each client was last sent of them
        self.answers = Answers(cluster_refresh_ms)  # server.cluster_refresh_ms
        #: the trading engine, always (one desk and risk manager per client); switched off
        #: (``enabled: false``; no parameters at all), it runs no strategy
        if trading_server is None:
            trading_server = ServerTradingParams(enabled=bool(trading))
        if not trading_server.enabled:
            trading_server = replace(trading_server, strategy=False)
        self.trading = ServerTrading(self.outbox, trading, trading_server, journal,
                                     self.alerts.raise_)  # fmt: skip
        if journal is not None:
            restore(self.trading, journal)
        self.trading.names = self.names
        #: an execution's commission above this per contract is refused (report_checks)
        self.max_commission = (trading or TradingParams()).risk.max_commission_per_contract
        #: what the dashboard's viewers see: prints, heatmap columns, signals (bounded rings)
        self.view = Views()
        #: the view's, the alerts' and the counters' part of applying a batch, held by a
        #: session until its answer is written (:mod:`.after_ack`)
        self.after_ack = AfterAck()
        #: the encoding the answers being built go out in, "msgpack" or "json" (a session of
        #: a client of that encoding sets it around its call: their book and metrics built as
        #: its bytes); None: the dicts (REST, replay, recovery)
        self.acks_as: Encoding | None = None
        self._top: Top = None  # the book's best prices in the answer built last

    # ---- instruments ---------------------------------------------------------------------
    def state(self, name: str) -> InstrumentState:
        """The state of instrument ``name`` (NinjaTrader name, contract or root), made on first
        use. An unknown instrument is a RequestError on field ``instrument``."""
        key = self._keys.get(name)
        if key is None:  # a name seen for the first time: parse it once
            inst = get_instrument(name)  # raises ConfigError for an unknown name
            key = self._keys[name] = inst.contract or inst.symbol
            if key not in self.instruments:
                pipe = Pipeline(inst, "nt_depth", self.params)
                pipe.aggressor_rule = "bidask"  # NinjaTrader's prints carry none: the Hub's rule
                bars = NtBars(inst, self.bar_params, self.params.profile)
                self.instruments[key] = InstrumentState(inst, pipe, nt_bars=bars)
        return self.instruments[key]

    def find(self, name: str) -> InstrumentState | None:
        try:
            inst = get_instrument(name)
        except Exception:  # an unknown name is simply not here
            return None
        return self.instruments.get(inst.contract or inst.symbol)

    def drop(self, key: str) -> None:
        """Forget instrument ``key``'s market state (a replay seeking back rebuilds it from
        the start); its feeder, the sequence numbers and the trading engine stay."""
        self.instruments.pop(key, None)
        for name in [n for n, k in self._keys.items() if k == key]:
            del self._keys[name]
        self.answers.of.pop(key, None)
        self.view.reset(key)

    def recover(self, records: list[Any]) -> int:
        """Rebuild the state from recorded batches (a restart): books, analytics and every
        client's last sequence number, without recording them again. Returns how many."""
        recorder, self.recorder = self.recorder, None
        self.counters["recovering"] = 1
        try:
            for r in records:
                try:
                    self.replay(r)
                except (ValueError, OverflowError, TypeError) as exc:  # never a bricked start
                    self.counters["recovery_skipped"] += 1
                    self.alerts.raise_("recovery_skipped", r.batch.instrument,
                                       f"a recorded batch did not apply: {exc}")  # fmt: skip
        finally:
            self.recorder = recorder
            del self.counters["recovering"]
        self.counters["recovered"] += len(records)
        return len(records)

    def replay(self, record: Record) -> bool:
        """One recorded frame as it went live: its batch applied, or the ladder marked stale
        where a refused batch made it so. False: refused (when it came in, and again)."""
        if record.refused == "seq":  # a refusal that used up the client's sequence number
            self._take_seq(record.batch, record.client)
            return True
        if record.refused is not None:  # a marker: no depth of its own, the depth was lost
            self._refused(self._state_of(record.batch), record.batch, record.client, lost=True)
            return True
        try:
            self.apply(record.batch, record.client, record.recv_ns)
        except RequestError:
            return False
        return True

    # ---- batches -------------------------------------------------------------------------
    def apply(
        self,
        batch: Batch,
        client: str | None = None,
        recv_ns: int | None = None,
        *,
        record: bool = True,
        feeder: str | None = None,
    ) -> tuple[Ack, SnapshotRequest | None]:
        """Apply one batch; the ack, and a snapshot request when the ladder needs one. With a
        recorder the batch is appended, as received, before anything is applied. ``feeder``:
        the client the batch comes from when it is not ``client`` (a REST peer); a batch for
        an instrument another client feeds is refused first (InstrumentOwnedError)."""
        self.after_ack.settle()  # what the last batch left, first (in order, before this)
        t0 = time.perf_counter_ns()
        recv_ns = recv_ns or time.time_ns()
        # a batch of market data only, of an instrument already here: its times, prices and
        # events checked and converted by one compiled call before the claim (nothing moves
        # yet); anything that call cannot prove goes the long way, which names the refusal
        st = self._market_only(batch)
        tried = st is not None  # (then a failed call needs no second try: the exact way)
        fast = None if st is None else fast_conversion(st, batch, EARLIEST_NS, recv_ns + FUTURE_NS)
        if st is None or fast is None:
            check_batch(batch, recv_ns)  # validate whole, then claim, then record, then apply
            st = self._state_of(batch)  # (an unknown instrument is refused before the claim)
        self._claim(batch, feeder or client, client, st)
        inst = st.instrument
        # what a failed recording puts back (none without a recorder: nothing can fail then)
        undo = undo_of(st) if self.recorder is not None else None
        if fast is not None:
            depth, trades = commit_conversion(st, fast)
        else:
            try:
                check_batch_reports(inst, batch, self.max_commission, st.ref_ticks)
                # raises before anything is applied
                depth, trades = convert_exact(st, batch) if tried else convert_batch(st, batch)
            except RequestError:
                self._refused(st, batch, client)
                raise
        mark(VALIDATED)
        if record and not (client is not None and 0 < batch.seq <= self.last_seq.get(client, 0)):
            try:
                self._record(batch, client, recv_ns)
            except RecordingError:  # not recorded: not applied (the recording holds it all)
                assert undo is not None  # (a recorder's failure)
                undo_conversion(st, undo)
                raise
        request = None
        if client is not None and batch.seq:
            last = self.last_seq.get(client, 0)
            if batch.seq <= last:
                self.counters["duplicates"] += 1
                return self._ack(st, batch, True, {}, Counter(), [], t0, to=client), None
            if batch.seq > last + 1:
                self.counters["gaps"] += 1
                st.stale_reason = "gap"
                request = SnapshotRequest(inst.contract or inst.symbol, "gap", last + 1, batch.seq)
                gap = f"sequence gap: expected {last + 1}, got {batch.seq}"
                self.alerts.raise_("stale_book", request.instrument, gap)
            self.last_seq[client] = batch.seq
        self._count(st, 1)
        # the classified prints, for the bars' delta and the view: arrays made by the
        # conversion for this batch and never written again (kept as they are)
        st.bars.add_prints(trades, owned=True)
        self.after_ack(self.view.took, st, trades)
        applied: dict[str, int] = {"depth": 0, "ticks": 0, "bars": 0}
        before = dict(st.pipeline.rejected)
        acc0 = len(st.pipeline.accumulated)
        signals = []
        book = st.pipeline.book
        self.view.moving(st.pipeline.name)  # the view's last entry read before the pipeline moves
        mark(ENGINE_IN)
        if batch.snapshot:
            bids = [(int(e["price"]), int(e["size"])) for e in depth if e["side"] == Side.BID]
            asks = [(int(e["price"]), int(e["size"])) for e in depth if e["side"] == Side.ASK]
            ts = int(depth["ts_event"][-1]) if len(depth) else 0
            book.apply_snapshot(bids, asks, ts_event=ts)
            st.stale_reason = None
            applied["depth"] = len(depth)
            signals += st.pipeline.process_prints(trades, ts_event=max(ts, _last_ts(trades)))
            trades = trades[:0]
        elif len(depth) and st.stale_reason is None:
            was_stale = bool(book.stale)
            # the batch is one event group with its prints (Pipeline.process_batch: the same
            # call a backtest of what the server saw makes)
            signals += st.pipeline.process_batch(depth, trades)
            applied["depth"] = len(depth)
            trades = trades[:0]
            if book.stale and not was_stale:
                reason = book.stale_reason or "reset"
                request = SnapshotRequest(
                    inst.contract or inst.symbol, reason, batch.seq, batch.seq
                )
        elif len(depth):
            self.counters["depth_skipped_stale"] += len(depth)
        if len(trades):
            signals += st.pipeline.process_prints(trades)
        mark(ENGINE_OUT)
        self._ask_or_heal(st, request, batch.seq)
        st.depth_events += applied["depth"]
        changed = self._rest_of(st, batch, client, applied, feeder)
        rejected = self._rejected(st, before, changed)
        ack = self._ack(st, batch, False, applied, rejected, signals, t0, series=changed,
                        to=client if client is not None else feeder)  # fmt: skip
        mark(ACKED)
        n = len(depth)
        self._check_alerts(st, ack, n, batch.last_depth_t if n else 0, client)
        self.after_ack(self.view.applied, st, len(depth), None if batch.snapshot else depth)
        if len(depth) or batch.ticks:
            self._decide(st, client, acc0)
        mark(APPLIED)
        return ack, request

    def apply_many(
        self, batches: list[Batch], client: str, recv_ns: int | None = None
    ) -> list[Outcome]:
        """Apply batches received together (a pipelining client), in order: for each, its
        ack, snapshot request or refusal. Consecutive *plain* batches of one instrument (the
        next sequence numbers, depth ending in a boundary, no snapshot, no IsReset, no print
        after the last depth event, a ladder that is not stale) go through the pipeline in one
        pass and get one ack (``first_seq`` .. ``seq``): the same book, metrics and signals as
        one by one (the pipeline's results do not depend on how its input is chunked), for
        one fixed cost instead of one per batch."""
        out: list[Outcome] = []
        i = 0
        while i < len(batches):
            self.after_ack.settle()  # the previous batch's, before the next is applied
            j = i + 1
            if j < len(batches) and self._plain(batches[i], client,
                                                self.last_seq.get(client, 0) + 1):  # fmt: skip
                while (
                    j < len(batches)
                    and j - i < MAX_RUN
                    and batches[j].instrument == batches[i].instrument
                    and self._plain(batches[j], client, batches[j - 1].seq + 1)
                ):
                    j += 1
            if j - i > 1:
                out += self._apply_run(batches[i:j], client, recv_ns)
            else:
                try:
                    ack, request = self.apply(batches[i], client, recv_ns)
                    out.append((batches[i], ack, request, None))
                except OrderflowError as exc:
                    out.append((batches[i], None, None, exc))
            i = j
        return out

    def _outcome(self, batch: Batch, client: str, recv_ns: int, record: bool) -> Outcome:
        try:
            ack, request = self.apply(batch, client, recv_ns, record=record)
            return batch, ack, request, None
        except OrderflowError as exc:
            return batch, None, None, exc

    def _plain(self, batch: Batch, client: str, seq: int) -> bool:
        if batch.seq != seq or batch.snapshot or not batch.n_depth:
            return False
        if batch.orders or batch.executions or batch.positions:
            return False  # order reports are checked and applied one batch at a time
        key = self._keys.get(batch.instrument)
        st = self.instruments.get(key) if key is not None else None
        if st is None or key is None or st.stale or not self.feeds.may_feed(key, client):
            return False
        return not batch.any_reset and batch.prints_by(batch.last_depth_t)

    def _apply_run(
        self, run: list[Batch], client: str, recv_ns: int | None, record: bool = True
    ) -> list[Outcome]:
        """Plain consecutive batches of one instrument in one pipeline pass, one ack. A batch
        the conversion refuses ends the run there: what came before is applied together, the
        refused one answers with its error, and the rest go one by one."""
        t0 = time.perf_counter_ns()
        recv_ns = recv_ns or time.time_ns()
        try:
            for b in run:
                check_batch(b, recv_ns)
        except RequestError:  # implausible: one by one, which names it and keeps the rest
            return [self._outcome(b, client, recv_ns, record) for b in run]
        st = self._state_of(run[0])
        undo = undo_of(st)
        merged = convert_columns_run(st, run)
        converted = [merged] if merged is not None else []
        for k, b in enumerate(run if merged is None else []):
            try:
                converted.append(convert_batch(st, b))
            except RequestError as exc:  # the head together, this one refused, the rest alone
                undo_conversion(st, (*undo[:3], st.rejected))  # its rejection stays counted
                head = self._apply_run(run[:k], client, recv_ns, record) if k > 1 else []
                if k == 1:
                    head = [self._outcome(run[0], client, recv_ns, record)]
                self.after_ack.settle()  # the head's view and alerts, before the ladder goes stale
                self._refused(st, b, client)
                rest = [self._outcome(later, client, recv_ns, record) for later in run[k + 1 :]]
                return [*head, (b, None, None, exc), *rest]
        for k, b in enumerate(run if record else []):
            try:
                self._record(b, client, recv_ns)
            except RecordingError as exc:  # what was recorded is applied, the rest refused
                undo_conversion(st, undo)
                head = [self._outcome(a, client, recv_ns, False) for a in run[:k]]
                return [*head, *((a, None, None, exc) for a in run[k:])]
        self.last_seq[client] = run[-1].seq
        self.feeds.claim(st.instrument.contract or st.instrument.symbol, client)  # see _plain
        self._count(st, len(run))
        before = dict(st.pipeline.rejected)
        acc0 = len(st.pipeline.accumulated)
        depth = np.concatenate([d for d, _ in converted])
        trades = np.concatenate([t for _, t in converted])
        st.bars.add_prints(trades, owned=True)  # (a concatenation of its own)
        self.after_ack(self.view.took, st, trades)
        book = st.pipeline.book
        self.view.moving(st.pipeline.name)
        signals = list(st.pipeline.process(depth, trades))
        request = None
        if book.stale:
            inst = st.instrument
            reason = book.stale_reason or "reset"
            request = SnapshotRequest(inst.contract or inst.symbol, reason, run[-1].seq,
                                      run[-1].seq)  # fmt: skip
        self._ask_or_heal(st, request, run[-1].seq)
        applied: dict[str, int] = {"depth": len(depth), "ticks": 0, "bars": 0}
        st.depth_events += len(depth)
        changed = Counter[str]()
        for b in run:
            changed += self._rest_of(st, b, client, applied)
        ack = self._ack(st, run[-1], False, applied, self._rejected(st, before, changed),
                        signals, t0, first_seq=run[0].seq, series=changed, to=client)  # fmt: skip
        self.counters["coalesced"] += len(run)
        self._check_alerts(st, ack, len(depth), run[-1].last_depth_t, client)
        self.after_ack(self.view.applied, st, len(depth), depth)
        self._decide(st, client, acc0)
        return [(run[-1], ack, request, None)]

    # ---- the steps of applying a batch ---------------------------------------------------
    def _claim(
        self, batch: Batch, feeder: str | None, client: str | None, st: InstrumentState
    ) -> None:
        """The feeder takes (or keeps) the batch's instrument, or the batch is refused before
        anything is recorded or applied: InstrumentOwnedError. Its ``seq`` is used up all the
        same (resending it would not help, and no gap should follow). Not in a recovery: what
        was recorded was taken."""
        if feeder is None or "recovering" in self.counters:
            return
        try:
            self.feeds.claim(st.instrument.contract or st.instrument.symbol, feeder)
        except InstrumentOwnedError:
            if self._take_seq(batch, client) and self.recorder is not None:
                self._mark_refused(batch, client, "seq")
            self.counters["refused_not_owner"] += 1
            raise

    def _ask_or_heal(self, st: InstrumentState, sent: SnapshotRequest | None, seq: int) -> None:
        """A stale ladder keeps asking its feeder for a snapshot (``sent``: the request that
        goes out with this batch's answer); a trustworthy one stops asking."""
        key = st.instrument.contract or st.instrument.symbol
        if not st.stale:
            if self.feeds.asks:  # nearly always none waiting
                self.feeds.healed(key)
        elif sent is not None:
            self.feeds.stale(key, sent.reason, sent.expected_seq, sent.got_seq, sent=True)
        else:
            reason = st.stale_reason or st.pipeline.book.stale_reason or "reset"
            self.feeds.stale(key, reason, seq, seq, sent=False)

    def _record(self, batch: Batch, client: str | None, recv_ns: int | None) -> None:
        if self.recorder is not None:
            was_ok = self.recorder.unavailable is None
            try:
                self.recorder.append(batch, client, recv_ns or time.time_ns())
            except RecordingError as exc:
                self.counters["recording_failures"] += 1
                if was_ok:  # once per outage; /health's status says it until a write succeeds
                    self.alerts.raise_("recording_unavailable", batch.instrument,
                                       self.recorder.unavailable or exc.message)  # fmt: skip
                raise
            self.counters["recorded"] += 1

    def _market_only(self, batch: Batch) -> InstrumentState | None:
        """The state of a batch's instrument when the batch carries nothing but depth and
        prints and the instrument is already here (None: the long way, which checks the
        other items' times and the order reports, and refuses an unknown name)."""
        if batch.bars or batch.orders or batch.executions or batch.positions:
            return None
        key = self._keys.get(batch.instrument)
        return None if key is None else self.instruments.get(key)

    def _state_of(self, batch: Batch) -> InstrumentState:
        try:
            return self.state(batch.instrument)
        except Exception as exc:
            raise RequestError(
                f"instrument: {batch.instrument!r} is not a known instrument", field="instrument"
            ) from exc

    def _count(self, st: InstrumentState, n: int) -> None:
        self.counters["batches"] += n
        st.batches += n
        st.last_recv_ns = time.time_ns()

    def _rest_of(
        self,
        st: InstrumentState,
        batch: Batch,
        client: str | None,
        applied: dict[str, int],
        feeder: str | None = None,
    ) -> Counter[str]:
        """Everything of a batch but its depth and prints: counts, bars, order reports
        (added to ``applied``). ``feeder``: the REST peer a batch without ``client`` came
        from. Returns the NinjaTrader series its bars changed (keys ``series:N``) and the
        bars refused (``bar_...``)."""
        if client is not None:
            inst = st.instrument
            self.names[(client, inst.contract or inst.symbol)] = batch.instrument
        recovering = "recovering" in self.counters  # never 0 while present (see recover)
        ticks = batch.ticks
        applied["ticks"] += len(ticks)
        st.ticks += len(ticks)
        changed = NO_SERIES  # nearly every batch: no bars (shared, never written to)
        if batch.bars:
            changed = Counter[str]()
            for bar in batch.bars:
                prices = (bar.open, bar.high, bar.low, bar.close)
                bad = st.bars.add_wire(bar.series, bar.t, prices, bar.volume, bar.closed,
                                       bar.period)  # fmt: skip
                changed += bad or Counter({f"series:{bar.series}": 1})
            applied["bars"] += len(batch.bars)
        # order reports go to the reporter's desk (a REST peer's: its feeder name); in a
        # recovery only those the journal lacks (without a journal: all of them); a batch
        # without reports has nothing for the desk (apply_batch would answer {})
        reporter = client if client is not None else feeder
        if has_reports(batch) and (not recovering or self.trading.unjournalled(reporter, batch)):
            for k, v in self.trading.apply_batch(reporter, st.instrument, batch).items():
                applied[k] = applied.get(k, 0) + v
        if ticks and not recovering:  # prints mark positions
            self.trading.prints(client, st.instrument, batch.last_print_price)
        st.last_ts = max(st.last_ts, st.pipeline.last_ts)
        return changed

    def _rejected(
        self, st: InstrumentState, before: dict[str, int], bars: Counter[str] | None = None
    ) -> Counter[str]:
        """What the batch's pipeline pass refused, and the bars refused (``bars``: what
        :meth:`_rest_of` returned; its ``series:N`` keys are not refusals)."""
        after = st.pipeline.rejected  # counts only grow: the batch's are the changed ones
        if after == before and not bars:  # nothing refused (nearly every batch)
            return NOTHING_REFUSED
        rejected = Counter(
            {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
            if after != before
            else {}
        )
        rejected.update({k: v for k, v in (bars or {}).items() if k.startswith("bar_")})
        st.rejected.update(rejected)
        return rejected

    def _check_alerts(
        self, st: InstrumentState, ack: Ack, n_depth: int, last_event: int,
        client: str | None = None,
    ) -> None:  # fmt: skip
        """The risk manager's book clock and the alert checks after a batch (or a run) of
        ``n_depth`` depth events, the last at ``last_event`` (its ``last_depth_t``: the time
        the converted events' last ``ts_event`` carries, read without an array's field)."""
        if "recovering" in self.counters:  # a recovery replays what was checked live
            return
        inst = st.instrument
        warm = st.batches > WARMUP_BATCHES

        def preopen() -> bool:
            return bool(last_event) and _preopen(inst, last_event)

        if n_depth and not st.stale:
            # only a ladder that can be trusted is a book update for risk: a stale one stops
            # the clock of the stale-book kill switch (RiskParams.book_stale_ms)
            top = self._top  # the book's best prices (the ack's book may be encoded bytes)
            crossed = top is not None and top[0] >= top[1] and not preopen()
            self.trading.book(crossed, client, st.pipeline.last_ts,
                              feeders=self.feeds.owners.values())  # fmt: skip
        self.after_ack(self.alerts.check, ack.instrument, ack, last_event, st.last_recv_ns,
                       self._top, preopen, warm)  # fmt: skip

    def _decide(self, st: InstrumentState, client: str | None, acc0: int) -> None:
        """The trading engine's strategy, after the client's market data (not in recovery:
        what the strategy sent then is in the journal). ``acc0``: the accumulated signals
        before this batch (a strategy started now takes only later ones as new)."""
        if "recovering" not in self.counters and self.trading.moves_for(client):
            # the closed bars are read only if the strategy decides
            self.trading.market(client, st.instrument, st.pipeline, acc0, st.bars.closed_bars)

    def _refused(
        self, st: InstrumentState, batch: Batch, client: str | None, lost: bool | None = None
    ) -> None:
        """A refused batch still uses its sequence number (resending it would not help), and
        the depth it carried is lost to the ladder: stale until a snapshot. ``lost``: whether
        depth was lost (None: whether ``batch`` carries depth that is not a snapshot; a
        replayed marker carries none, but stands for a batch that did)."""
        advanced = self._take_seq(batch, client)
        if lost is None:
            lost = bool(batch.n_depth) and not batch.snapshot
        if lost:
            if st.stale_reason is None and self.recorder is not None:
                self._mark_refused(batch, client, "refused")
                advanced = False  # that marker carries the sequence number too
            st.stale_reason = "refused"
            name = st.instrument.contract or st.instrument.symbol
            self.alerts.raise_("stale_book", name, f"batch {batch.seq} refused: its depth is lost")
            self.feeds.stale(name, "refused", batch.seq, batch.seq, sent=False)
        if advanced and self.recorder is not None:
            self._mark_refused(batch, client, "seq")
        self.counters["refused"] += 1

    def _take_seq(self, batch: Batch, client: str | None) -> bool:
        """A refused batch still uses its client's sequence number (resending it would not
        help, and no gap should follow); True when it moved the client's ``last_seq``."""
        if client is None or batch.seq <= self.last_seq.get(client, 0):
            return False
        self.last_seq[client] = batch.seq
        return True

    def _mark_refused(self, batch: Batch, client: str | None, what: str) -> None:
        """A refusal that changed the state leaves a marker in the recording (the instrument
        and ``seq`` only, never the refused content): ``refused``, it made a fresh ladder
        stale; ``seq``, it used up the client's sequence number. A restart's replay does the
        same at the same point (:meth:`replay`), and rebuilds the same book and sequence."""
        assert self.recorder is not None
        marker = Batch(batch.instrument, seq=batch.seq)
        try:
            self.recorder.append(marker, client, time.time_ns(), refused=what)
        except RecordingError:  # the disk failed: the refusal stands, the alert is raised
            self.counters["recording_failures"] += 1

    def metrics(self, st: InstrumentState) -> dict[str, Any]:
        """An instrument's metrics as every answer carries them (prices in exchange units;
        empty before its first event group): :func:`.answer_metrics.metrics`."""
        return answer_metrics(st.instrument, st.pipeline)

    def state_answer(self, name: str, client: str | None) -> State:
        """The whole state of instrument ``name`` (a ``state_request``, ``GET /api/state``);
        the next ack of it to ``client`` carries clusters and profile in full. NotFoundError
        when the server has no data for it."""
        st = self.find(name)
        if st is None:
            raise NotFoundError(f"instrument: no data for {name!r}", field="instrument")
        inst = st.instrument
        clusters, profile = self.answers.full(st.pipeline, client)
        self.answers.forget(client, st.pipeline.name)
        return State(
            inst.contract or inst.symbol,
            self.metrics(st),
            clusters,
            profile,
            bar_metrics=st.bars.latest() or None,
        )

    def _ack(
        self,
        st: InstrumentState,
        batch: Batch,
        duplicate: bool,
        applied: dict[str, int],
        rejected: Counter[str],
        signals: list[Any],
        t0: int,
        first_seq: int = 0,
        to: str | None = None,
        series: Counter[str] | None = None,
    ) -> Ack:
        """The answer to client ``to``: book, metrics, signals, and (protocol 2) clusters and
        profile, in full or unchanged for that client (:mod:`.answers`)."""
        inst, pipe = st.instrument, st.pipeline
        # one read of the ladder (for a WebSocket session: book and metrics as its encoding's bytes)
        book, metrics, self._top = book_metrics_top(inst, pipe, BOOK_LEVELS, self.acks_as)
        clusters = profile = None  # a recovery's acks go nowhere: the trackers are not read
        if "recovering" not in self.counters:
            clusters, profile = self.answers.for_ack(pipe, to)
        return Ack(
            seq=batch.seq,
            instrument=inst.contract or inst.symbol,
            duplicate=duplicate,
            applied=applied,
            rejected=dict(rejected) if rejected else {},
            stale=st.stale,
            book=book,
            metrics=metrics,
            signals=[signal_dict(s, inst) for s in signals] if signals else [],
            processing_us=(time.perf_counter_ns() - t0) / 1000,
            first_seq=first_seq or batch.seq,
            bar_metrics=_bar_metrics(st.bars, series) if series else None,
            clusters=clusters,
            profile=profile,
        )

    # ---- health --------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        now = time.time_ns()
        recording = self.recorder.status() if self.recorder is not None else None
        return {
            "status": "degraded" if recording is not None and not recording["ok"] else "ok",
            **({"recording": recording} if recording is not None else {}),
            "version": __version__,
            "session": self.session,
            "uptime_s": round(time.time() - self.started, 3),
            "counters": dict(self.counters),
            "orders": dict(
                sum(
                    (ct.desk.orders.counters for ct in self.trading.clients.values()),
                    Counter[str](),
                )
            ),
            "commands": dict(self.outbox.counters),
            "alerts": self.alerts.to_list(),
            "alert_counts": dict(self.alerts.counts),
            "feeds": self.feeds.status(),
            "trading": self.trading.status(),
            "instruments": {
                key: {
                    "stale": st.stale,
                    "stale_reason": st.stale_reason or st.pipeline.book.stale_reason,
                    "batches": st.batches,
                    "depth_events": st.depth_events,
                    "ticks": st.ticks,
                    "rejected": dict(st.rejected + st.pipeline.rejected),
                    "last_update_age_s": (now - st.last_recv_ns) / 1e9 if st.last_recv_ns else None,
                    "receive_minus_event_s": self.alerts.offset.get(key, 0) / 1e9,
                }
                for key, st in self.instruments.items()
            },
        }


PREOPEN_NS = 30 * 60 * 1_000_000_000


def _preopen(inst: Instrument, ts_ns: int) -> bool:
    """Within the 30 minutes before the next session opens (CME's pre-open)."""
    hours = inst.trading_hours
    next_open = session_open_ns(trading_day_of(ts_ns, hours) + timedelta(days=1), hours)
    if next_open - ts_ns > 86_400 * 1_000_000_000:  # the session opening later today
        next_open = session_open_ns(trading_day_of(ts_ns, hours), hours)
    return 0 <= next_open - ts_ns <= PREOPEN_NS


def _bar_metrics(bars: NtBars, changed: Counter[str] | None) -> list[dict[str, Any]] | None:
    """The ack's ``bar_metrics``: the latest bar of each series the batch changed, or None."""
    if not changed:  # no bars in the batch (nearly every depth batch)
        return None
    keys = sorted(int(k[7:]) for k in changed if k.startswith("series:"))
    out = [m for m in (bars.metrics(k) for k in keys) if m is not None]
    return out or None


def _last_ts(trades: np.ndarray) -> int:
    return int(trades["ts_event"][-1]) if len(trades) else 0
