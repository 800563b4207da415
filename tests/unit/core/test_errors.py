"""The error tree: refusals below the server are tree errors that are also the built-in
error their callers catch."""

from __future__ import annotations

import numpy as np
import pytest

from orderflow.analytics.bars import BarKind, BarSpec
from orderflow.backtest.latency import LatencyModel
from orderflow.book.l3 import OrderBook
from orderflow.core.errors import (
    ArgumentError,
    ConfigError,
    DtypeError,
    JournalError,
    JournalVersionError,
    OrderflowError,
    ParameterError,
)
from orderflow.engine.pipeline import PipelineParams
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
