"""Every trading parameter class refuses a value that cannot work, naming the field: non-finite,
the wrong type (a bool or a string for a number, 2.5 for a count), the wrong sign, out of
bounds. ``daily_loss_limit: .nan`` used to switch the limit off; ``max_position: 2.5`` passed."""

from __future__ import annotations

import math

import pytest

from orderflow.core.errors import ConfigError
from orderflow.server.trading import ServerTradingParams
from orderflow.settings import load_settings
from orderflow.trading.broker import BrokerParams, ProductCosts
from orderflow.trading.risk import RiskManager, RiskParams
from orderflow.trading.sessions import SessionParams
from orderflow.trading.sizing import SizingParams
from orderflow.trading.strategy import StrategyParams

NAN, INF = math.nan, math.inf

BAD = [
    (RiskParams, "daily_loss_limit", NAN),
    (RiskParams, "daily_loss_limit", INF),
    (RiskParams, "daily_loss_limit", -1.0),
    (RiskParams, "daily_loss_limit", "300"),
    (RiskParams, "daily_loss_limit", True),
    (RiskParams, "daily_profit_goal", NAN),
    (RiskParams, "trailing_drawdown", -INF),
    (RiskParams, "starting_balance", NAN),
    (RiskParams, "profit_lock_fraction", 1.0),
    (RiskParams, "profit_lock_fraction", NAN),
    (RiskParams, "cooloff_minutes", NAN),
    (RiskParams, "max_orders_per_s", 0.0),
    (RiskParams, "max_orders_per_s", NAN),
    (RiskParams, "book_stale_ms", INF),
    (RiskParams, "disconnect_grace_s", -1.0),
    (RiskParams, "max_commission_per_contract", 0.0),
    (RiskParams, "max_commission_per_contract", NAN),
    (RiskParams, "max_commission_per_contract", 1e300),
    (RiskParams, "max_position", 2.5),
    (RiskParams, "max_position", -1),
    (RiskParams, "max_position", 1 << 63),
    (RiskParams, "max_order_size", 0),
    (RiskParams, "max_order_size", True),
    (RiskParams, "max_trades_per_day", -1),
    (RiskParams, "max_consecutive_losses", 1.5),
    (RiskParams, "kill_on_disconnect", "false"),
    (RiskParams, "flatten_on_kill", "no"),
    (RiskParams, "auto_kill_latches", 0),
    (RiskParams, "max_position_by_symbol", {"MES": 2.5}),
    (SizingParams, "risk_per_trade", NAN),
    (SizingParams, "atr_multiple", INF),
    (SizingParams, "fixed_contracts", 1.5),
    (SizingParams, "max_contracts", -1),
    (SizingParams, "margin_fraction", NAN),
    (SizingParams, "auto_micro", "false"),
    (SessionParams, "no_trade_after_open_min", NAN),
    (SessionParams, "flatten_before_close_min", -1.0),
    (SessionParams, "first_year", 2015.5),
    (SessionParams, "rth_only", "true"),
    (StrategyParams, "entry_score", NAN),
    (StrategyParams, "entry_timeout_s", INF),
    (StrategyParams, "stop_loss_ticks", 8.5),
    (StrategyParams, "max_position", 0),
    (StrategyParams, "enabled", "false"),
    (BrokerParams, "max_orders_per_s", NAN),
    (BrokerParams, "max_orders_per_s", -1.0),
    (ServerTradingParams, "strategy", "false"),
    (ServerTradingParams, "enabled", "false"),
]


@pytest.mark.parametrize(("cls", "name", "value"), BAD)
def test_a_parameter_that_cannot_work_is_refused_naming_it(cls, name, value):
    with pytest.raises(ValueError, match=name):
        cls(**{name: value})


SECTION = {RiskParams: "risk", SizingParams: "sizing", SessionParams: "sessions",
           BrokerParams: "broker", StrategyParams: "strategy",
           ServerTradingParams: "server"}  # fmt: skip


# text is read by the settings' typed rules ("300" is 300.0, "no" is False: tests/unit/
# test_settings.py), so only the values no rule can read are refused there too
THROUGH_SETTINGS = [b for b in BAD if not isinstance(b[2], str) and b[1] != "auto_kill_latches"]


@pytest.mark.parametrize(("cls", "name", "value"), THROUGH_SETTINGS)
def test_through_the_settings_it_is_a_config_error_naming_the_key(cls, name, value):
    key = f"trading.{SECTION[cls]}.{name}"
    with pytest.raises(ConfigError, match=rf"setting {key.replace('.', '[.]')}\b"):
        load_settings(None, trading={SECTION[cls]: {name: value}})


def test_product_costs_refuse_nan():
    with pytest.raises(ValueError, match="commission_per_side"):
        ProductCosts(NAN, 1, 1, 1, 1, 1)


def test_none_is_off_only_where_documented():
    assert BrokerParams(max_orders_per_s=None).max_orders_per_s is None  # the profile's
    with pytest.raises(ValueError, match="daily_loss_limit"):
        RiskParams(daily_loss_limit=None)  # type: ignore[arg-type]  # 0 is off, not None


def test_defaults_and_documented_offs_are_accepted():
    RiskParams()
    RiskParams(daily_loss_limit=0, daily_profit_goal=0, trailing_drawdown=0, book_stale_ms=0,
               max_trades_per_day=0, max_consecutive_losses=0)  # fmt: skip
    SizingParams()
    SessionParams()
    StrategyParams()
    BrokerParams()
    ServerTradingParams()


def test_an_operator_kill_never_resets_with_non_latching_automatic_kills():
    """``auto_kill_latches: false`` releases the automatic kills whose condition cleared,
    never a kill someone (or a journal that could not be trusted) engaged."""
    risk = RiskManager(RiskParams(auto_kill_latches=False, book_stale_ms=0))
    risk.kill("journal_missing", 1)
    assert risk.on_book(2) == [] and risk.state.kill
    assert risk.state.kill_reason == "journal_missing"
    risk.reset_kill()
    risk.on_book(3, crossed=True)
    assert risk.state.kill_reason == "book_crossed"
    risk.on_book(4, crossed=False)
    assert not risk.state.kill  # the automatic one did clear
