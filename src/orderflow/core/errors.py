"""The one error tree of orderflow.

::

    OrderflowError
    ├── MarketDataError            bad market data: drop it, count it, go on
    │   ├── BookUpdateError        an update a book refused; the book is unchanged
    │   │   ├── UnknownOrderError      cancel/modify/fill of an order id the book does not hold
    │   │   ├── DuplicateOrderError    add of an order id the book already holds
    │   │   ├── InvalidSizeError       negative or zero size where a positive one is needed,
    │   │   │                          or a cancel/fill larger than the order
    │   │   ├── BadSideError           side is neither bid nor ask
    │   │   ├── BadActionError         action/operation code unknown
    │   │   ├── PositionOutOfRangeError  ladder position beyond the rows the book holds
    │   │   ├── OffTickError           price not on the instrument's tick grid
    │   │   ├── PriceOrderError        the ladder would lose its price order
    │   │   └── CapacityError          price outside the range a fixed-size book can hold
    │   └── DecodeError            a record or line that cannot be parsed (names field and reason)
    │       └── DecompressionLimitError  compressed data that expands past its cap (a bomb)
    ├── BookIntegrityError         a book invariant does not hold: a bug in the book, never data
    ├── RequestError               a bad request from a client (400, body {"error": {...}})
    │   ├── UnauthorisedError      the token is missing or wrong (401)
    │   ├── NotFoundError          no such instrument, order, journal or engine (404)
    │   ├── ConflictError          the request conflicts with the server's state (409)
    │   │   └── InstrumentOwnedError  a batch for an instrument another client feeds
    │   ├── TooLargeError          a body or message over the size limit (413)
    │   ├── UnprocessableError     a well-formed command the desk or risk refuses (422)
    │   ├── QueryValueError        a query or body value not a number or out of range (422)
    │   ├── RateLimitedError       over the connection's rate limit (429, Retry-After)
    │   └── UnavailableError       the server cannot take it now; retry later (503)
    │       └── WarmingError       the server is still starting (Retry-After)
    ├── TradingInputError          a number the trading engine refuses (a non-finite, negative
    │                              or absurd price, quantity, commission or P&L); also a
    │                              ValueError
    ├── ArgumentError              a call the library refuses: arrays that do not match, a
    │   │                          stream kind a component cannot take, a step out of order
    │   │                          (the caller's mistake, not bad data); also a ValueError
    │   └── DtypeError             an array of the wrong dtype; also a TypeError
    ├── ConfigError                bad settings: fail at start with a clear message
    │   ├── ParameterError         a parameter class or option refuses a value (names it);
    │   │                          also a ValueError, which pydantic places at the setting's key
    │   └── JournalError           a journal that cannot be opened or restored (corrupt file,
    │       │                      a record that does not restore): names the file and the fix
    │       └── JournalVersionError  written by a newer orderflow; also a ValueError
    ├── RecordingError             the recording cannot be kept as it must be (503)
    │   ├── RecordingUnavailableError  an append failed (disk full, I/O error): the batch is
    │   │                              refused retryably and nothing of it is kept
    │   └── RecordingCorruptError      a frame inside a recording file is corrupt: start stops
    │                                  and names the file and the repair command
    ├── ServerStartError           a server that did not come up (a port in use, a timeout)
    └── ClientError                the client library: the server refused the connection
                                   (token, protocol) or the client is closed

The classes that are also a ``ValueError`` (or ``TypeError``) are so because callers catch
those: the settings place a parameter class's ``ValueError`` at its key, the trading host and
the server refuse a command on a ``ValueError``, the journal tools turn one into a finding.

Every error carries a stable ``code`` (snake case) that counters, logs and API bodies use,
and an HTTP ``status_code`` that is a property of its class (the server's error handler answers
with it): 422 for any error of the tree raised while processing a request (unprocessable), the
4xx and 503 of the request errors drawn above, 409 for a journal record that does not restore.
The request errors that only set a status keep the code ``bad_request``: the body a client sees
names the field and the reason, the status says what kind of refusal it is.
Book errors also carry the numeric :class:`~orderflow.model.enums.RejectReason` the jitted
kernels return, so the batch path and the per-event path count rejections the same way.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OrderflowError(Exception):
    """Root of every error orderflow raises on purpose."""

    code: ClassVar[str] = "orderflow_error"
    #: the HTTP status the server answers this error with (see the module docstring)
    status_code: int = 422

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error in the API's one body shape."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class MarketDataError(OrderflowError):
    """Bad market data: the caller drops the item, counts it and goes on."""

    code = "market_data_error"


class BookUpdateError(MarketDataError):
    """A book refused an update. The book is exactly as it was before the call."""

    code = "book_update_rejected"
    reason = 0  # RejectReason value; subclasses override


class UnknownOrderError(BookUpdateError):
    code = "unknown_order"
    reason = 1


class DuplicateOrderError(BookUpdateError):
    code = "duplicate_order"
    reason = 2


class InvalidSizeError(BookUpdateError):
    code = "invalid_size"
    reason = 3


class BadSideError(BookUpdateError):
    code = "bad_side"
    reason = 4


class BadActionError(BookUpdateError):
    code = "bad_action"
    reason = 5


class PositionOutOfRangeError(BookUpdateError):
    code = "position_out_of_range"
    reason = 6


class OffTickError(BookUpdateError):
    code = "off_tick"
    reason = 7


class PriceOrderError(BookUpdateError):
    code = "price_order"
    reason = 8


class CapacityError(BookUpdateError):
    code = "capacity"
    reason = 9


class DecodeError(MarketDataError):
    """A record, line or message that cannot be parsed. ``details`` names field and reason."""

    code = "decode_error"


class DecompressionLimitError(DecodeError):
    """Compressed data that expands beyond its cap (total bytes or ratio to the compressed
    size): a decompression bomb or a file too large to read whole. Names the file and the limit."""

    code = "decompression_limit"


class BookIntegrityError(OrderflowError):
    """An invariant of a book does not hold (``check_integrity``): a bug, never bad data."""

    code = "book_integrity"


class RequestError(OrderflowError):
    """A client's request is malformed or not allowed (HTTP 400; the subclasses below carry
    the other 4xx and 503 statuses: the status is a property of the class)."""

    code: ClassVar[str] = "bad_request"
    status_code = 400


class UnauthorisedError(RequestError):
    """The token is missing or wrong (HTTP 401)."""

    status_code = 401


class NotFoundError(RequestError):
    """No such instrument, order or journal, or the trading engine is off (HTTP 404)."""

    status_code = 404


class ConflictError(RequestError):
    """The request conflicts with the server's state: a bridge that is not connected, a cid
    already used (HTTP 409)."""

    status_code = 409


class InstrumentOwnedError(ConflictError):
    """A batch for an instrument that another client feeds: refused whole (HTTP 409)."""

    code = "instrument_owned"


class TooLargeError(RequestError):
    """A body or message over the size limit (HTTP 413)."""

    status_code = 413


class UnprocessableError(RequestError):
    """A well-formed command the order desk or the risk manager refuses (HTTP 422)."""

    status_code = 422


class QueryValueError(RequestError):
    """A query or body value that is not a number, or out of its range (HTTP 422, naming
    the field): a dashboard's time range, limit or replay control."""

    code = "bad_value"
    status_code = 422


class RateLimitedError(RequestError):
    """Over the connection's rate limit (HTTP 429 with ``Retry-After``)."""

    status_code = 429


class UnavailableError(RequestError):
    """The server cannot take the request now (an overloaded engine, a journal that does not
    write): nothing of it was kept; retry later (HTTP 503)."""

    status_code = 503


class WarmingError(UnavailableError):
    """The server is still starting (compiling its kernels, restoring its state): retry
    after the ``Retry-After`` seconds; nothing of the request was kept."""

    code = "warming"


class ConfigError(OrderflowError):
    """Settings that cannot work. Raised at start-up, never mid-session."""

    code = "config_error"


class RecordingError(OrderflowError):
    """The recording (``server.record_dir``) cannot be written or read as it must be."""

    code = "recording_error"
    status_code = 503


class RecordingUnavailableError(RecordingError):
    """An append to the recording failed (ENOSPC, EIO, no file descriptor): nothing of the
    batch was kept or applied; the client may send it again later (HTTP 503, Retry-After)."""

    code = "recording_unavailable"


class RecordingCorruptError(RecordingError):
    """A frame inside a recording file (not its torn tail) fails its check. Nothing is
    guessed: the message names the file and ``orderflow recordings repair``."""

    code = "recording_corrupt"


class TradingInputError(OrderflowError, ValueError):
    """A value the trading engine will not book: P&L must never become NaN or absurd, so
    positions and risk refuse it (``details``: ``field`` and ``value``)."""

    code = "trading_input"


class JournalError(ConfigError):
    """The trading journal cannot be opened or restored: the server does not start; the
    message names the file and what to do (``orderflow journal check``)."""

    code = "journal_error"
    status_code = 409  # read through the API: a record that does not restore


class JournalVersionError(JournalError, ValueError):
    """A journal whose schema is newer than this orderflow's: it is never downgraded."""

    code = "journal_version"


class ParameterError(ConfigError, ValueError):
    """A parameter class (or a function's option) refuses a value; the message names it. A
    ``ValueError`` too: validated inside the settings, pydantic places it at the key."""

    code = "bad_parameter"


class ArgumentError(OrderflowError, ValueError):
    """A call the library refuses: arrays that do not match, a stream kind a component cannot
    take, an operation out of order. A bug or a wrong choice of the caller, never bad data
    (that is :class:`MarketDataError`)."""

    code = "bad_argument"


class DtypeError(ArgumentError, TypeError):
    """An array of the wrong dtype for a bulk operation (``apply_mbo`` needs ``MBO_DTYPE``)."""

    code = "bad_dtype"


class MessageFieldError(OrderflowError, ValueError):
    """A field of a wire message breaks the protocol's rules (columns of unequal length, a
    reset index beyond the events). A ``ValueError`` too: raised inside msgspec's decoding,
    which turns it into a validation error naming the field."""

    code = "bad_message"


class ServerStartError(OrderflowError):
    """A server that did not come up: its port did not answer in time."""

    code = "server_start"


class ClientError(OrderflowError):
    """The client library: the server refused the connection (wrong token or protocol), or
    the client is closed or failed."""

    code = "client_error"


BOOK_ERRORS: dict[int, type[BookUpdateError]] = {
    cls.reason: cls
    for cls in (
        UnknownOrderError,
        DuplicateOrderError,
        InvalidSizeError,
        BadSideError,
        BadActionError,
        PositionOutOfRangeError,
        OffTickError,
        PriceOrderError,
        CapacityError,
    )
}


def book_error(reason: int, message: str | None = None, **details: Any) -> BookUpdateError:
    """Build the typed error for a kernel's reject code."""
    cls = BOOK_ERRORS.get(int(reason), BookUpdateError)
    return cls(message or cls.code.replace("_", " "), **details)
