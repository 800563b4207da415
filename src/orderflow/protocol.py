"""The wire protocol between NinjaTrader (the C# bridge, or any client) and the server.

One set of message structs serves every transport: WebSocket text frames (JSON), WebSocket
binary frames (MessagePack) and the REST endpoints (JSON bodies). ``docs/protocol.md`` is the
contract in prose; this module is the contract in code. Decoding validates every field and
raises :class:`~orderflow.core.errors.RequestError` naming the field (``depth[3].price``) and
the reason; a message either decodes whole or not at all.

Times are ns since the Unix epoch, UTC (the bridge converts NinjaTrader's local ``DateTime``).
Prices are in the exchange's units as NinjaTrader gives them (doubles); the server turns them
into exact ticks and refuses a price off the instrument's grid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NoReturn

import msgspec
import numpy as np

from orderflow.core.errors import MessageFieldError, RequestError
from orderflow.core.raw_lists import RawList

__all__ = [
    "EARLIEST_NS",
    "FUTURE_NS",
    "MAX_POSITION",
    "MAX_PRICE",
    "MAX_SIZE",
    "PACKED",
    "PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOLS",
    "Ack",
    "Bar",
    "Batch",
    "Bye",
    "ClientMessage",
    "Command",
    "CommandAck",
    "Depth",
    "DepthColumns",
    "Error",
    "Execution",
    "Heartbeat",
    "Hello",
    "OrderUpdate",
    "PositionUpdate",
    "RawList",
    "RawRows",
    "RawTicks",
    "Report",
    "ReportOrder",
    "ReportPosition",
    "ServerMessage",
    "SnapshotRequest",
    "State",
    "StateRequest",
    "Tick",
    "Welcome",
    "check_batch",
    "column_array",
    "column_list",
    "columnar",
    "decode_batch",
    "decode_client",
    "decode_object",
    "encode",
    "packed",
    "rows",
]

PROTOCOL_VERSION = 2
#: the versions a hello may name: a version 1 client gets the same messages (the fields that
#: version 2 added are optional and ignored by it)
SUPPORTED_PROTOCOLS = (1, 2)

#: every integer on the wire fits an int64 (the engine's arrays, the recording, SQLite)
INT64_MAX = (1 << 63) - 1
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Positive = Annotated[int, msgspec.Meta(gt=0, le=INT64_MAX)]
#: the bounds of a depth event's size, a ladder position and a price (the packed columns'
#: values are held to them when converted)
MAX_SIZE = 1_000_000_000
MAX_POSITION = 10_000
MAX_PRICE = 1e9
Size = Annotated[int, msgspec.Meta(ge=0, le=MAX_SIZE)]
#: a batch's sequence number: exact in a double, so every JSON client keeps it exactly
Seq = Annotated[int, msgspec.Meta(ge=0, le=(1 << 53) - 1)]
#: a time (ns since the epoch, UTC); :func:`check_batch` holds a batch's times to the
#: plausible window (:data:`EARLIEST_NS` .. receive time + :data:`FUTURE_NS`)
TimeNs = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
#: a price, a quote or money: finite (NaN and infinities are refused) and within 1e9
Price = Annotated[float, msgspec.Meta(ge=-MAX_PRICE, le=MAX_PRICE)]
#: a depth event's ladder position
Position = Annotated[int, msgspec.Meta(ge=0, le=MAX_POSITION)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
#: the widest cluster band a client may ask for, in ticks (250 ES points)
MAX_CLUSTER_GRANULARITY = 1000
#: an instrument as NinjaTrader names it ("ES 03-24", "MES 12-24", "ES ##-##"), a contract
#: ("ESH4") or a root: letters and digits first and last, inside also space . _ - #; no
#: path separator, no "..", at most 32 characters (it names the recording's folder)
InstrumentName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        pattern=r"^(?!.*\.\.)[A-Za-z0-9](?:[A-Za-z0-9 ._#-]*[A-Za-z0-9#])?\Z",
    ),
]
#: our client id of an order: NinjaTrader's signalName (at most 50 characters)
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$")]
Quantity = Annotated[int, msgspec.Meta(gt=0, le=100_000)]

# NinjaTrader's own enum names (``ToString()`` in C#), so the bridge forwards them verbatim
OrderAction = Literal["Buy", "Sell", "SellShort", "BuyToCover"]
OrderType = Literal["Market", "Limit", "StopMarket", "StopLimit", "MIT"]
OrderState = Literal[
    "Initialized", "Submitted", "Accepted", "Working", "PartFilled", "Filled", "CancelPending",
    "CancelSubmitted", "Cancelled", "ChangePending", "ChangeSubmitted", "Rejected",
    "TriggerPending", "Suspended", "AcceptedByRisk", "Unknown",
]  # fmt: skip
MarketPosition = Literal["Long", "Short", "Flat"]


#: ``gc=False`` (Depth, Tick): scalars only, so never part of a reference cycle; the garbage
#: collector does not track one object per event of every batch decoded
class Depth(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One ``OnMarketDepth`` event, verbatim: NinjaTrader's position-indexed ladder update."""

    t: TimeNs  # ns UTC
    side: Literal["bid", "ask"]
    op: Literal["add", "update", "remove"]
    pos: Position
    price: Price
    size: Size
    reset: bool = False  # NinjaTrader's IsReset


#: the packed columns' layout: each a little-endian array of fixed-size values, back to back
#: (MessagePack ``bin``, base64 in JSON); ``(numpy dtype, bytes a value, what a value is)``
PACKED: dict[str, tuple[str, int, str]] = {
    "t": ("<i8", 8, "int64"),
    "pos": ("<i4", 4, "int32"),
    "price": ("<f8", 8, "float64"),
    "size": ("<i8", 8, "int64"),
}


class DepthColumns(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A batch's depth events as columns: the same events as a list of :class:`Depth`, in a
    third of the bytes and decoded several times faster (the fast path for a high-rate feed).
    ``side`` has one character per event (``b`` bid, ``a`` ask), ``op`` one per event (``a``
    add, ``u`` update, ``r`` remove); ``reset`` lists the indexes of the events with IsReset.
    Every column has one entry per event.

    ``t``, ``pos``, ``price`` and ``size`` may each come packed (:data:`PACKED`): the values
    as little-endian int64, int32, float64 and int64, back to back, which the server reads as
    arrays without a Python object per event. Their values are held to the same bounds as the
    lists' when the batch is converted, before anything of it is applied."""

    t: list[TimeNs] | bytes
    side: Annotated[str, msgspec.Meta(pattern=r"^[ba]*$")]
    op: Annotated[str, msgspec.Meta(pattern=r"^[aur]*$")]
    pos: list[Position] | bytes
    price: list[Price] | bytes
    size: list[Size] | bytes
    reset: list[NonNegative] = []

    def __post_init__(self) -> None:
        # every column packed (what the bridge sends) with counts that agree: the number of
        # events, compared at once (no further call: this runs for every batch decoded)
        t, price, pos, size = self.t, self.price, self.pos, self.size
        n = len(t) >> 3
        if not (type(t) is bytes and type(price) is bytes and type(pos) is bytes
                and type(size) is bytes and len(t) == n << 3 and len(price) == len(t) == len(size)
                and len(pos) == n << 2 and len(self.side) == n == len(self.op)):  # fmt: skip
            n = self._counted()
        if self.reset and max(self.reset) >= n:
            raise MessageFieldError(f"columns.reset: index {max(self.reset)} beyond the {n} events")

    def _counted(self) -> int:
        """The number of events of columns not all packed, or whose counts disagree: each
        column's count checked against ``t``'s, the first that differs named."""
        n = _entries(self.t, "t")
        for name in ("side", "op", "pos", "price", "size"):
            col = getattr(self, name)
            k = _entries(col, name)
            if k == n:
                continue
            if isinstance(col, bytes):
                raise MessageFieldError(
                    f"columns.{name}: {k} values ({len(col)} bytes), columns.t has {n} events"
                )
            raise MessageFieldError(f"columns.{name} has {k} entries, columns.t has {n}")
        return n

    @property
    def n(self) -> int:
        """How many events the columns carry."""
        t = self.t
        return len(t) >> 3 if isinstance(t, bytes) else len(t)

    @property
    def packed(self) -> bool:
        """Whether any column comes packed."""
        return any(isinstance(c, bytes) for c in (self.t, self.pos, self.price, self.size))


def _entries(col: Any, name: str) -> int:
    """A column's number of values; a packed one must hold a whole number of them."""
    if not isinstance(col, bytes) or name not in PACKED:
        return len(col)
    _, size, kind = PACKED[name]
    k, rest = divmod(len(col), size)
    if rest:
        raise MessageFieldError(
            f"columns.{name}: {len(col)} bytes is not a whole number of {size}-byte {kind} values"
        )
    return k


def column_array(columns: DepthColumns, name: str) -> np.ndarray:
    """A column as a numpy array of its packed dtype: a packed one read in place (no copy,
    read only), a list converted."""
    col = getattr(columns, name)
    dtype = PACKED[name][0]
    return np.frombuffer(col, dtype=dtype) if isinstance(col, bytes) else np.array(col, dtype)


def column_list(columns: DepthColumns, name: str) -> list[Any]:
    """A column as a list of Python numbers, packed or not."""
    col = getattr(columns, name)
    return column_array(columns, name).tolist() if isinstance(col, bytes) else list(col)


class Tick(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One ``OnMarketData`` Last event: a print, with the inside quote at that moment."""

    t: TimeNs
    price: Price
    size: Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000)]
    bid: Price | None = None
    ask: Price | None = None


class Bar(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``OnBarUpdate`` of data series ``series`` (BarsInProgress)."""

    series: Annotated[int, msgspec.Meta(ge=0, le=64)]
    t: TimeNs  # the bar's open time
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Size
    closed: bool = True  # False: the forming bar (Calculate.OnEachTick)
    #: NinjaTrader's name of the series' period ("1 Minute"); "": the server infers it
    period: Annotated[str, msgspec.Meta(max_length=64)] = ""


#: NinjaTrader's order reports are trusted with nothing: every number bounded (a NaN or an
#: infinity fails a bound), times between 2000 and 2100; the instrument's grid, a plausible
#: price and the commission per contract are checked against the instrument and the settings
#: by :mod:`orderflow.server.report_checks` before anything of the batch is applied
ReportTime = Annotated[int, msgspec.Meta(ge=946_684_800_000_000_000, le=4_102_444_800_000_000_000)]
ReportPrice = Annotated[float, msgspec.Meta(ge=-1e6, le=1e7)]  # 0: unused (limit, stop)
ReportQuantity = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Commission = Annotated[float, msgspec.Meta(ge=0.0, le=1e6)]  # account currency, the fill's
Label = Annotated[str, msgspec.Meta(max_length=256)]


class OrderUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``OnOrderUpdate``, by value (NinjaTrader's ``order`` object may already show a later
    state). ``cid`` is our client id (the order's signalName); ``order_id`` is NinjaTrader's,
    which may change during the order's life."""

    t: ReportTime
    cid: ClientId
    state: OrderState
    quantity: ReportQuantity
    filled: ReportQuantity = 0
    avg_fill_price: ReportPrice = 0.0
    limit_price: ReportPrice = 0.0
    stop_price: ReportPrice = 0.0
    order_id: Label = ""
    error: Label = "NoError"  # NinjaTrader's ErrorCode name
    comment: Annotated[str, msgspec.Meta(max_length=1024)] = ""


class Execution(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``OnExecutionUpdate``: a fill. ``execution_id`` makes a resent fill count once."""

    t: ReportTime
    cid: ClientId
    execution_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    price: ReportPrice
    quantity: Quantity
    market_position: MarketPosition  # the side of the fill: Long (bought) or Short (sold)
    order_id: Label = ""
    commission: Commission = 0.0  # 0: none reported (the broker profile's then)


class PositionUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``OnPositionUpdate`` of the strategy's position in the batch's instrument."""

    t: ReportTime
    market_position: MarketPosition
    quantity: ReportQuantity
    average_price: ReportPrice = 0.0
    account: Label = ""


class CommandAck(msgspec.Struct, frozen=True, tag="command_ack", forbid_unknown_fields=True):
    """The bridge's answer to a ``command``: ``done`` when the NinjaScript call was made
    (SubmitOrderUnmanaged/ChangeOrder/CancelOrder returned), ``refused`` with the reason when it
    was not (unknown cid, not in State.Realtime, HistoricalOnly...). An acknowledgement is never a
    fill: fills arrive as executions."""

    cid: ClientId
    command_seq: Positive
    status: Literal["done", "refused"]
    reason: str = ""


#: how the server answers a connection: JSON text or MessagePack bytes
Encoding = Literal["json", "msgpack"]


class Hello(msgspec.Struct, frozen=True, tag="hello", forbid_unknown_fields=True):
    """First message of a connection. ``client`` names the sender; sequence numbers are kept
    per client across reconnections. ``encoding`` is how the server answers."""

    protocol: int
    client: Name
    token: str | None = None
    encoding: Encoding = "json"
    #: True: the client sends a ``report`` (NinjaTrader's positions and working orders) after
    #: every ``welcome``, and the server sends no new order until it has it
    report: bool = False
    #: the width (ticks) the client draws a cluster (NinjaTrader's cluster increment): the
    #: clusters in its answers come grouped in bands this wide (protocol 2; none: the server's
    #: ``analytics.clusters.granularity``)
    cluster_granularity: Annotated[int, msgspec.Meta(ge=1, le=MAX_CLUSTER_GRANULARITY)] | None = (
        None
    )


class Batch(msgspec.Struct, frozen=True, tag="batch", forbid_unknown_fields=True):
    """Updates of one instrument, applied atomically in this order: depth, ticks, bars.

    ``seq`` counts the client's batches from 1 (0: unsequenced, REST compatibility).
    ``snapshot``: the depth events rebuild the whole ladder (adds from position 0 per side),
    after a reconnect, an IsReset or a snapshot request."""

    instrument: InstrumentName
    seq: Seq = 0
    snapshot: bool = False
    depth: Sequence[Depth] = []
    columns: DepthColumns | None = None  # the same, as columns (instead of ``depth``)
    ticks: Sequence[Tick] = []
    bars: list[Bar] = []
    orders: list[OrderUpdate] = []
    executions: list[Execution] = []
    positions: list[PositionUpdate] = []

    def __post_init__(self) -> None:
        if self.columns is not None and self.depth:
            raise MessageFieldError(
                "columns: a batch carries depth as a list or as columns, not both"
            )

    @property
    def n_depth(self) -> int:
        """How many depth events the batch carries (either form)."""
        return self.columns.n if self.columns is not None else len(self.depth)

    @property
    def last_depth_t(self) -> int:
        """The time of its last depth event (0 without depth)."""
        if self.columns is not None:
            t = self.columns.t
            if isinstance(t, bytes):
                return int.from_bytes(t[-8:], "little", signed=True) if t else 0
            return t[-1] if t else 0
        d = self.depth
        if type(d) is RawRows:
            return d.last_t
        return self.depth[-1].t if self.depth else 0

    @property
    def any_reset(self) -> bool:
        if self.columns is not None:
            return bool(self.columns.reset)
        d = self.depth
        if type(d) is RawRows:
            return d.reset
        return any(e.reset for e in self.depth)

    def prints_by(self, t: int) -> bool:
        """Whether none of its prints is later than ``t`` (True without prints)."""
        k = self.ticks
        if type(k) is RawTicks:  # the times as read from the frame
            return not k.n or k.latest_t <= t
        return all(x.t <= t for x in self.ticks)

    @property
    def last_print_price(self) -> float:
        """The price of its last print (what marks positions; 0.0 without prints)."""
        k = self.ticks
        if type(k) is RawTicks:  # as read from the frame, no object made
            return float(k.last_price)
        return self.ticks[-1].price if self.ticks else 0.0


class RawRows(RawList[Depth]):
    """:attr:`Batch.depth` as its frame's bytes: ``block`` one row a field (time, code,
    position, the price's float64 bits, size: ``server._wire_kernels.ROW_*``), one column an
    event; ``last_t`` the last event's time, ``reset`` whether any has IsReset."""

    __slots__ = ("last_t", "reset")
    _decoder = msgspec.msgpack.Decoder(list[Depth])

    def __init__(self, raw: msgspec.Raw, block: np.ndarray, last_t: int, reset: bool) -> None:
        # RawList's fields set here, not by its __init__ (a call less per batch decoded)
        self.raw, self.block, self.n, self._events = raw, block, block.shape[1], None
        self.last_t, self.reset = last_t, reset

    @property
    def times(self) -> np.ndarray:
        """The events' times (``block``'s first row)."""
        times: np.ndarray = self.block[0]
        return times


class RawTicks(RawList[Tick]):
    """:attr:`Batch.ticks` as its frame's bytes: ``block`` one row a print, the record the
    conversion reads (time, size, and the float64 bits of price, bid and ask; a NaN quote:
    none); ``last_price`` the last print's price (as its :class:`Tick` has it), ``latest_t``
    the latest print's time (both 0 without prints)."""

    __slots__ = ("last_price", "latest_t")
    _decoder = msgspec.msgpack.Decoder(list[Tick])

    def __init__(
        self, raw: msgspec.Raw, block: np.ndarray, last_price: float, latest_t: int
    ) -> None:
        self.raw, self.block, self.n, self._events = raw, block, len(block), None
        self.last_price, self.latest_t = last_price, latest_t

    @property
    def times(self) -> np.ndarray:
        """The prints' times (``block``'s first column)."""
        times: np.ndarray = self.block[:, 0]
        return times


class Heartbeat(msgspec.Struct, frozen=True, tag="heartbeat", forbid_unknown_fields=True):
    t: NonNegative = 0


class Bye(msgspec.Struct, frozen=True, tag="bye", forbid_unknown_fields=True):
    reason: str = ""


class ReportPosition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One of NinjaTrader's positions (``Account.Positions`` or the strategy's ``Position``)."""

    instrument: InstrumentName
    market_position: MarketPosition
    quantity: ReportQuantity
    average_price: ReportPrice = 0.0
    account: Label = ""


class ReportOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One of NinjaTrader's orders that is not in a terminal state, as it stands now."""

    instrument: InstrumentName
    cid: ClientId
    state: OrderState
    quantity: Quantity
    filled: ReportQuantity = 0
    action: OrderAction | None = None
    order_type: OrderType | None = None
    limit_price: ReportPrice = 0.0
    stop_price: ReportPrice = 0.0
    oco: Label = ""
    order_id: Label = ""
    account: Label = ""


class Report(msgspec.Struct, frozen=True, tag="report", forbid_unknown_fields=True):
    """NinjaTrader's whole picture after a (re)connect: every non-flat position and every
    working order of the account (an instrument not listed is flat). Sent once after each
    ``welcome`` by a client whose hello said ``report: true``; the server reconciles on it."""

    t: Annotated[int, msgspec.Meta(ge=0, le=4_102_444_800_000_000_000)] = 0  # 0: now
    positions: list[ReportPosition] = []
    orders: list[ReportOrder] = []


class StateRequest(msgspec.Struct, frozen=True, tag="state_request", forbid_unknown_fields=True):
    """A client asks for the whole state of an instrument now (a ``state`` answer); the next
    ack of that instrument to this client carries clusters and profile in full again."""

    instrument: InstrumentName


ClientMessage = Hello | Batch | CommandAck | Heartbeat | Bye | Report | StateRequest


class Welcome(msgspec.Struct, frozen=True, tag="welcome"):
    protocol: int
    server: str
    session: str
    last_seq: int  # the last batch applied for this client: resend what follows
    flags: dict[str, bool] = {}  # the server's feature flags (historical_only, use_l3, ...)


class Ack(msgspec.Struct, frozen=True, tag="ack"):
    """What one batch did and what the engine says now (prices in exchange units)."""

    seq: int
    instrument: str
    duplicate: bool
    applied: dict[str, int]
    rejected: dict[str, int]
    stale: bool
    #: ``book`` and ``metrics``: dicts when decoded; in the server, the answers a WebSocket
    #: session writes carry them as ``msgspec.Raw`` (those dicts' bytes in the session's
    #: encoding, already encoded)
    book: dict[str, Any]
    metrics: dict[str, Any]
    signals: list[dict[str, Any]]
    processing_us: float
    #: the first batch this ack answers: under load the server applies consecutive batches of
    #: one instrument together and answers them with one ack (``first_seq`` .. ``seq``)
    first_seq: int = 0
    bar_metrics: list[dict[str, Any]] | None = None  # series whose bars changed (protocol.md)
    #: (protocol 2) the instrument's liquidity and volume clusters: ``{"state": "full" |
    #: "unchanged", "version", "items"}``; ``items`` null when unchanged since the previous
    #: answer to this client (see docs/protocol.md)
    clusters: dict[str, Any] | None = None
    #: (protocol 2) the session profile: ``{"state", "version", "poc", "vah", "val", "hvn",
    #: "lvn", "volume"}``, values null when unchanged; null before any print
    profile: dict[str, Any] | None = None


class State(msgspec.Struct, frozen=True, tag="state"):
    """(protocol 2) The whole state of an instrument, the answer to a ``state_request`` (and
    ``GET /api/state/{instrument}``): metrics, clusters and profile in full."""

    instrument: str
    metrics: dict[str, Any]
    clusters: dict[str, Any]
    profile: dict[str, Any] | None
    bar_metrics: list[dict[str, Any]] | None = None


class SnapshotRequest(msgspec.Struct, frozen=True, tag="snapshot_request"):
    instrument: str
    reason: str  # gap, reset, price_order, refused
    expected_seq: int
    got_seq: int
    #: the how-many-th request for this snapshot (the server asks again with back-off)
    attempt: int = 1
    #: seconds until the next request if no snapshot has healed the ladder by then (the
    #: first request announces the server's first retry, 1 s)
    retry_s: float = 1.0


class Error(msgspec.Struct, frozen=True, tag="error"):
    field: str
    reason: str
    seq: int | None = None
    code: str = "bad_request"
    #: the HTTP status the same refusal gets over REST (e.g. 409 ``instrument_owned``)
    status: int | None = None


class Command(msgspec.Struct, frozen=True, tag="command", forbid_unknown_fields=True):
    """An unmanaged order command for the bridge to execute (through TriggerCustomEvent).

    ``command_seq`` counts the server's commands to this client from 1; a command the bridge has
    already executed (a resend after a reconnect) is acknowledged again, not executed twice.
    ``submit`` names the new order ``cid`` (its signalName) and carries action, type, quantity,
    prices, ``oco`` and ``series`` (BarsInProgress); ``change`` carries the new quantity and
    prices of order ``cid``; ``cancel`` only ``cid``. Unused prices are 0, as in NinjaScript."""

    command_seq: Positive
    op: Literal["submit", "change", "cancel"]
    cid: ClientId
    instrument: Name
    action: OrderAction | None = None
    order_type: OrderType | None = None
    quantity: NonNegative = 0
    limit_price: float = 0.0
    stop_price: float = 0.0
    oco: str = ""
    series: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    t: NonNegative = 0  # when the server issued it (ns UTC)
    #: why the engine sends it: an exit's reason on the order that closes a position
    #: (``absorption_against absorption 19237`` (prices in ticks), ``opposite_signal 2.10``,
    #: ``time_stop``, ...); "" otherwise
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


ServerMessage = Welcome | Ack | SnapshotRequest | Error | Heartbeat | Command | State

_JSON_CLIENT = msgspec.json.Decoder(ClientMessage)
_MSGPACK_CLIENT = msgspec.msgpack.Decoder(ClientMessage)
_JSON_BATCH = msgspec.json.Decoder(Batch)
_JSON = msgspec.json.Encoder()
_MSGPACK = msgspec.msgpack.Encoder()
_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
#: a packed column's own refusal (``columns.price: 801 bytes ...``) names that column
_NAMED = re.compile(r"^(?P<field>columns\.(?:t|pos|price|size)): ")


def _field_error(exc: msgspec.DecodeError | msgspec.ValidationError) -> RequestError:
    """msgspec's message as a RequestError naming the field: ``$.depth[3].price`` becomes
    ``depth[3].price``; a message that is not even valid JSON/MessagePack names ``message``."""
    text = str(exc)
    m = _PATH.search(text)
    field = m.group("path").lstrip(".") if m else ""
    reason = _PATH.sub("", text)
    if "matching regex" in reason and field.split(".")[-1] == "instrument":
        reason = "not an instrument name (letters and digits, inside also space . _ - #; no '..')"
    named = _NAMED.match(reason)
    if named and field == "columns":
        field = named.group("field")
        reason = reason[named.end() :]
    unknown = _UNKNOWN.search(reason)
    if unknown:  # name the unknown field itself: depth[0].volume
        field = f"{field}.{unknown.group(1)}" if field else unknown.group(1)
    return RequestError(f"{field or 'message'}: {reason}", field=field or "message")


def decode_client(data: bytes | str) -> ClientMessage:
    """A client message from a WebSocket frame: text is JSON, bytes are MessagePack."""
    try:
        if isinstance(data, str):
            return _JSON_CLIENT.decode(data)
        return _MSGPACK_CLIENT.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _field_error(exc) from None
    except RecursionError:  # the tagged union reads the object whole before its type
        raise _too_deep("message") from None


def decode_object(body: bytes, field: str = "body") -> dict[str, Any]:
    """A JSON object (a REST body that is not a batch: a command, a kill switch's client); an
    empty body is ``{}``. Anything else is a RequestError on ``field``."""
    if not body.strip():
        return {}
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise RequestError(f"{field}: {exc}", field=field) from None
    except RecursionError:
        raise _too_deep(field) from None
    if not isinstance(data, dict):
        raise RequestError(f"{field}: a JSON object is expected", field=field)
    return data


def _too_deep(field: str) -> RequestError:
    return RequestError(f"{field}: nested too deeply", field=field)


def decode_batch(body: bytes) -> Batch:
    """A REST body: one batch as JSON (its ``type`` may be left out)."""
    try:
        return _JSON_BATCH.decode(body)
    except msgspec.ValidationError as exc:
        if "Object missing required field `type`" in str(exc):
            return _with_type(body)
        raise _field_error(exc) from None
    except msgspec.DecodeError as exc:
        raise _field_error(exc) from None


def _with_type(body: bytes) -> Batch:
    try:
        raw = msgspec.json.decode(body)
        if not isinstance(raw, dict):
            raise RequestError("message: a batch must be a JSON object", field="message")
        raw["type"] = "batch"
        return _JSON_BATCH.decode(_JSON.encode(raw))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _field_error(exc) from None


#: 1980-01-01 UTC: older than any futures data NinjaTrader can load or replay (Globex opened
#: in 1992; the oldest daily histories, CL and GC, reach the early 1980s), and it refuses a
#: time sent in the wrong unit (seconds, ms or us taken as ns all fall in January 1970)
EARLIEST_NS = 315_532_800 * 1_000_000_000
#: one day beyond the receive time: a live feed's time is "now" give or take a bridge whose
#: local time zone is off (at most 14 h); Market Replay plays the past with the times the
#: data were recorded at, so its times are older, never later, than the receive time
FUTURE_NS = 86_400 * 1_000_000_000


#: the fields of a batch whose items each carry a time ``t``
_TIMED = ("depth", "ticks", "bars", "orders", "executions", "positions")
_RAW_KINDS = (RawRows, RawTicks)  # (told by exact type: an ABC's isinstance is ~0.2 us)


def check_batch(batch: Batch, recv_ns: int) -> None:
    """What decoding cannot check alone: every time of the batch lies in the plausible window
    (:data:`EARLIEST_NS` .. ``recv_ns`` + :data:`FUTURE_NS`). A RequestError names the first
    field outside it (``depth[3].t``); ranges, finiteness and the instrument's name were
    checked when the batch was decoded (a packed column's when it is converted). Nothing is
    built for a batch inside the window: a packed column is read in place (two reductions),
    each item's time compared where it lies."""
    latest = recv_ns + FUTURE_NS
    c = batch.columns
    if c is not None and c.n:
        if isinstance(c.t, bytes):
            ts = column_array(c, "t")
            if not (_MIN(ts) >= EARLIEST_NS and _MAX(ts) <= latest):
                _out_of_window("columns.t", ts.tolist(), latest)
        elif not (min(c.t) >= EARLIEST_NS and max(c.t) <= latest):
            _out_of_window("columns.t", c.t, latest)
    for name in _TIMED:
        items = getattr(batch, name)
        if type(items) in _RAW_KINDS:  # the times as read from the frame: not an object each
            ts = items.times
            if items.n and not (_MIN(ts) >= EARLIEST_NS and _MAX(ts) <= latest):
                _out_of_window(name, ts.tolist(), latest)
            continue
        for x in items:
            if not EARLIEST_NS <= x.t <= latest:
                _out_of_window(name, [y.t for y in items], latest)


_MIN, _MAX = np.minimum.reduce, np.maximum.reduce


def _out_of_window(name: str, ts: list[int], latest: int) -> NoReturn:
    """The RequestError naming the first of field ``name``'s times ``ts`` outside the window."""
    i = next(k for k, t in enumerate(ts) if not EARLIEST_NS <= t <= latest)
    field = f"{name}[{i}]" if name == "columns.t" else f"{name}[{i}].t"
    when = "before 1980-01-01" if ts[i] < EARLIEST_NS else "more than a day after receipt"
    raise RequestError(
        f"{field}: {ts[i]} is not a plausible time (ns since 1970-01-01 UTC): {when}",
        field=field,
    )


def columnar(batch: Batch) -> Batch:
    """The same batch with its depth events as :class:`DepthColumns`."""
    ev = batch.depth
    if not ev:
        return batch
    cols = DepthColumns(
        t=[e.t for e in ev],
        side="".join("b" if e.side == "bid" else "a" for e in ev),
        op="".join(e.op[0] for e in ev),
        pos=[e.pos for e in ev],
        price=[e.price for e in ev],
        size=[e.size for e in ev],
        reset=[i for i, e in enumerate(ev) if e.reset],
    )
    return msgspec.structs.replace(batch, depth=[], columns=cols)


def packed(batch: Batch) -> Batch:
    """The same batch with its depth events as packed :class:`DepthColumns` (``t``, ``pos``,
    ``price`` and ``size`` as little-endian arrays, :data:`PACKED`)."""
    b = columnar(batch)
    c = b.columns
    if c is None or not c.n or c.packed:
        return b
    cols = msgspec.structs.replace(c, **{name: column_array(c, name).tobytes() for name in PACKED})
    return msgspec.structs.replace(b, columns=cols)


def rows(batch: Batch) -> Batch:
    """The same batch with its depth events as a list of :class:`Depth` (either columns form)."""
    c = batch.columns
    if c is None:
        return batch
    ops = {"a": "add", "u": "update", "r": "remove"}
    resets = set(c.reset)
    ts, pos, price, size = (column_list(c, name) for name in ("t", "pos", "price", "size"))
    depth = [
        Depth(ts[i], "bid" if c.side[i] == "b" else "ask", ops[c.op[i]],  # type: ignore[arg-type]
              pos[i], price[i], size[i], i in resets)
        for i in range(c.n)
    ]  # fmt: skip
    return msgspec.structs.replace(batch, depth=depth, columns=None)


def encode(msg: Any, encoding: Encoding = "json") -> bytes:
    """A server message as JSON or MessagePack bytes."""
    return _MSGPACK.encode(msg) if encoding == "msgpack" else _JSON.encode(msg)
