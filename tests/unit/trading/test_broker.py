"""Broker profiles: every registry product priced, overrides applied, bad settings refused."""

import pytest

from orderflow.core.errors import ConfigError
from orderflow.model.instruments import REGISTRY
from orderflow.trading.broker import (
    DEFAULT_PROFILE,
    BrokerParams,
    ProductCosts,
    get_profile,
)


def test_the_default_profile_covers_every_registry_product():
    assert set(DEFAULT_PROFILE.costs) == set(REGISTRY)
    for root, c in DEFAULT_PROFILE.costs.items():
        assert c.nfa_fee_per_side == 0.02
        assert 0 < c.intraday_margin < c.overnight_margin
        micro = REGISTRY[root].micro_of
        if micro is not None:  # a micro costs less than its standard and margins 1/10
            assert c.per_side < DEFAULT_PROFILE.costs[micro].per_side
            assert c.overnight_margin * 10 == DEFAULT_PROFILE.costs[micro].overnight_margin


def test_costs_and_margins_arithmetic():
    es = DEFAULT_PROFILE.costs_for("ESZ4")
    assert es.per_side == pytest.approx(1.29 + 1.38 + 0.10 + 0.02)
    assert DEFAULT_PROFILE.round_turn("ES", 3) == 16.74  # 2.79 x 2 x 3
    assert DEFAULT_PROFILE.commission("MES 12-24", 1) == 0.77
    assert DEFAULT_PROFILE.margin("NQ", 2) == 2_000.0
    assert DEFAULT_PROFILE.margin("MNQ", 1, overnight=True) == 1_800.0
    assert DEFAULT_PROFILE.allows("MIT") and not DEFAULT_PROFILE.allows("Trailing")


def test_overrides_from_settings():
    p = BrokerParams(
        profile="default",
        overrides={"ES": {"commission_per_side": 0.59}},
        allowed_order_types=("Market", "Limit"),
        max_orders_per_s=2,
    ).build()
    assert p.round_turn("ES") == 2 * (0.59 + 1.38 + 0.10 + 0.02)
    assert p.round_turn("MES") == DEFAULT_PROFILE.round_turn("MES")
    assert not p.allows("StopMarket") and p.max_orders_per_s == 2.0
    assert get_profile("zero").round_turn("CL", 5) == 0.0


@pytest.mark.parametrize(
    "params",
    [BrokerParams(profile="nope"), BrokerParams(allowed_order_types=("Market", "Iceberg"))],
)
def test_bad_broker_settings_are_config_errors(params):
    with pytest.raises(ConfigError):
        params.build()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"ES": {"commision_per_side": 1.0}}, "overrides.ES.commision_per_side: unknown"),
        ({"ES": {"commission_per_side": -1.0}}, "overrides.ES.commission_per_side: -1.0"),
        ({"ES": {"commission_per_side": float("nan")}}, "overrides.ES.commission_per_side: nan"),
        ({"ES": {"commission_per_side": float("inf")}}, "overrides.ES.commission_per_side: inf"),
        ({"ES": {"commission_per_side": True}}, "overrides.ES.commission_per_side: True"),
    ],
)
def test_bad_broker_overrides_are_refused_naming_the_key(overrides, named):
    with pytest.raises(ValueError, match=named):
        BrokerParams(overrides=overrides)


def test_product_costs_refuse_negative_numbers():
    with pytest.raises(ValueError):
        ProductCosts(1, 1, 1, 1, -5, 1)
