"""The error tree: refusals below the server are tree errors that are also the built-in
error their callers catch; the HTTP status of an error is a property of its class."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.analytics.bars import BarKind, BarSpec
from orderflow.backtest.latency import LatencyModel
from orderflow.book.l3 import OrderBook
from orderflow.core.errors import (
    ArgumentError,
    ClientError,
    ConfigError,
    ConflictError,
    DtypeError,
    InstrumentOwnedError,
    JournalError,
    JournalVersionError,
    NotFoundError,
    OrderflowError,
    ParameterError,
    RateLimitedError,
    RecordingUnavailableError,
    RequestError,
    ServerStartError,
    TooLargeError,
    UnauthorisedError,
    UnavailableError,
    UnprocessableError,
    WarmingError,
)
from orderflow.engine.pipeline import PipelineParams
from orderflow.server.scheduler import OverloadedError
from orderflow.trading.risk import RiskParams


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (ParameterError, (ConfigError, ValueError)),
        (ArgumentError, (OrderflowError, ValueError)),
        (DtypeError, (ArgumentError, TypeError)),
        (JournalVersionError, (JournalError, ValueError)),
    ],
)
def test_dual_classes_are_tree_errors_and_builtin_errors(cls, bases):
    err = cls("refused", field="x")
    assert all(isinstance(err, b) for b in bases)
    assert err.to_dict()["error"] == {
        "code": cls.code,
        "message": "refused",
        "details": {"field": "x"},
    }


def test_parameter_classes_refuse_with_a_parameter_error():
    with pytest.raises(ParameterError, match="bar size"):
        BarSpec(BarKind.TIME, 0)
    with pytest.raises(ParameterError, match="depth_levels"):
        PipelineParams(depth_levels=0)
    with pytest.raises(ParameterError, match="trailing_mode"):
        RiskParams(trailing_mode="weekly")
    with pytest.raises(ParameterError, match="constant_ns"):
        LatencyModel(constant_ns=-1)


def test_a_wrong_dtype_is_a_dtype_error():
    with pytest.raises(DtypeError, match="MBO_DTYPE"):
        OrderBook().apply_mbo(np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (RequestError, 400, "bad_request"),
        (UnauthorisedError, 401, "bad_request"),
        (NotFoundError, 404, "bad_request"),
        (ConflictError, 409, "bad_request"),
        (InstrumentOwnedError, 409, "instrument_owned"),
        (TooLargeError, 413, "bad_request"),
        (UnprocessableError, 422, "bad_request"),
        (RateLimitedError, 429, "bad_request"),
        (UnavailableError, 503, "bad_request"),
        (WarmingError, 503, "warming"),
        (OverloadedError, 503, "overloaded"),
        (RecordingUnavailableError, 503, "recording_unavailable"),
        (JournalError, 409, "journal_error"),
        (OrderflowError, 422, "orderflow_error"),
    ],
)
def test_the_http_status_is_a_property_of_the_error_class(cls, status, code):
    assert cls.status_code == status
    err = cls("refused", field="x")
    assert err.status_code == status
    # the body a client sees: the one shape, the status never among the details
    assert err.to_dict() == {
        "error": {"code": code, "message": "refused", "details": {"field": "x"}}
    }


def test_request_errors_sit_under_request_error_and_client_errors_in_the_tree():
    for cls in (UnauthorisedError, NotFoundError, ConflictError, TooLargeError,
                UnprocessableError, RateLimitedError, UnavailableError):  # fmt: skip
        assert issubclass(cls, RequestError)
    assert issubclass(InstrumentOwnedError, ConflictError)
    assert issubclass(WarmingError, UnavailableError)
    assert issubclass(OverloadedError, UnavailableError)
    assert issubclass(ClientError, OrderflowError) and issubclass(ServerStartError, OrderflowError)
    from orderflow.client import ClientError as exported

    assert exported is ClientError


def test_a_risk_refusal_is_a_422_by_its_class_and_its_status_stays_out_of_the_body():
    err = UnprocessableError("risk: daily_loss", field="risk", reason="daily_loss")
    assert err.status_code == 422 and RequestError.status_code == 400
    assert err.details == {"field": "risk", "reason": "daily_loss"}
    assert "status" not in err.to_dict()["error"]["details"]
