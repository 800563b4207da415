"""Sizing arithmetic per instrument, checked against the CME contract specifications."""

import pytest

from orderflow.model.instruments import REGISTRY, get_instrument
from orderflow.trading.broker import DEFAULT_PROFILE, get_profile
from orderflow.trading.sizing import (
    SizingParams,
    risk_per_contract,
    size_position,
    stop_ticks_from_atr,
)

ZERO = get_profile("zero")

# (root, tick size, value of one tick) from shared/docs/ninjatrader-api.md section 5
SPECS = [
    ("ES", "0.25", 12.50),
    ("MES", "0.25", 1.25),
    ("NQ", "0.25", 5.00),
    ("MNQ", "0.25", 0.50),
    ("YM", "1", 5.00),
    ("MYM", "1", 0.50),
    ("RTY", "0.1", 5.00),
    ("M2K", "0.1", 0.50),
    ("CL", "0.01", 10.00),
    ("MCL", "0.01", 1.00),
    ("GC", "0.1", 10.00),
    ("MGC", "0.1", 1.00),
]


def test_every_registry_product_is_checked():
    assert {s[0] for s in SPECS} == set(REGISTRY)


@pytest.mark.parametrize(("root", "tick", "value"), SPECS)
def test_risk_sizing_per_instrument(root, tick, value):
    inst = get_instrument(root)
    assert inst.tick_size == tick and float(inst.tick_value) == value
    # 8 ticks of stop, no costs: one contract risks 8 tick values
    assert risk_per_contract(inst, 8, ZERO, include_costs=True) == 8 * value
    params = SizingParams(risk_per_trade=1_000.0, auto_micro=False, max_contracts=1_000)
    d = size_position(inst, params, stop_ticks=8, profile=ZERO)
    assert d.symbol == root
    assert d.contracts == int(1_000.0 // (8 * value))
    assert d.total_risk <= 1_000.0


def test_costs_count_against_the_budget():
    # ES, 4-tick stop: 4 x 12.50 = 50 + round turn 2 x (1.29 + 1.38 + 0.10 + 0.02) = 5.58
    d = size_position(
        "ES", SizingParams(risk_per_trade=500.0, auto_micro=False), stop_ticks=4,
        profile=DEFAULT_PROFILE,
    )  # fmt: skip
    assert d.risk_per_contract == 55.58
    assert d.contracts == 8  # 500 / 55.58 = 8.99
    no_costs = SizingParams(risk_per_trade=500.0, auto_micro=False, include_costs=False)
    assert size_position("ES", no_costs, stop_ticks=4, profile=DEFAULT_PROFILE).contracts == 10


def test_auto_micro_picks_the_contract_that_fits_the_budget():
    params = SizingParams(risk_per_trade=100.0, max_contracts=50)
    small = size_position("ES", params, stop_ticks=4, profile=DEFAULT_PROFILE)
    assert (small.symbol, small.contracts) == ("MES", 15)  # 1 ES risks 55.58, 15 MES 98.10
    assert small.total_risk == 98.10
    big = size_position(
        "MES", SizingParams(risk_per_trade=600.0), stop_ticks=4, profile=DEFAULT_PROFILE
    )
    assert (big.symbol, big.contracts) == ("ES", 10)  # 600 / 55.58; 10 MES (cap) only 65.40
    nq = size_position("MNQ", SizingParams(risk_per_trade=150.0), stop_ticks=20, profile=ZERO)
    assert (nq.symbol, nq.contracts) == ("NQ", 1)  # 20 x 5.00 = 100 per NQ
    cl = size_position("CL", SizingParams(risk_per_trade=90.0), stop_ticks=10, profile=ZERO)
    assert (cl.symbol, cl.contracts) == ("MCL", 9)  # CL risks 100, MCL 10
    none = size_position("ES", SizingParams(risk_per_trade=1.0), stop_ticks=4, profile=ZERO)
    assert (none.symbol, none.contracts, none.reason) == ("MES", 0, "below_one_contract")


def test_margin_check_falls_back_to_the_micro():
    params = SizingParams(risk_per_trade=2_000.0, max_contracts=100)
    # intraday: 2,000 / 50 = 40 ES by risk; 1,200 / 500 = 2 ES by margin
    d = size_position("ES", params, stop_ticks=4, profile=ZERO, equity=1_200.0)
    assert (d.symbol, d.contracts) == ("ES", 40)  # the zero profile has no margin
    only_es = SizingParams(risk_per_trade=2_000.0, max_contracts=100, auto_micro=False)
    d = size_position("ES", only_es, stop_ticks=4, profile=DEFAULT_PROFILE, equity=1_200.0)
    assert (d.symbol, d.contracts, d.reason) == ("ES", 2, "margin")
    # with auto_micro: 24 MES (50 margin each) risk 24 x 6.54 = 156.96 > 2 ES's 111.16
    d = size_position("ES", params, stop_ticks=4, profile=DEFAULT_PROFILE, equity=1_200.0)
    assert (d.symbol, d.contracts, d.reason, d.total_risk) == ("MES", 24, "margin", 156.96)
    # overnight ES needs 12,500: none fits 10,000, so MES (1,250 each): 8
    d = size_position(
        "ES", params, stop_ticks=4, profile=DEFAULT_PROFILE, equity=10_000.0, overnight=True
    )
    assert (d.symbol, d.contracts, d.reason) == ("MES", 8, "margin")


def test_atr_sizing():
    # GC: ATR 1.55 x 2 = 3.1 = 31 ticks of $10: 310 a contract; 1,000 budget -> 3 GC
    assert stop_ticks_from_atr(get_instrument("GC"), 1.55, 2.0) == 31
    assert stop_ticks_from_atr(get_instrument("ES"), 1.1, 1.0) == 5  # 4.4 ticks, rounded up
    params = SizingParams(method="atr", risk_per_trade=1_000.0, atr_multiple=2.0)
    d = size_position("GC", params, atr=1.55, profile=ZERO)
    assert (d.symbol, d.contracts, d.stop_ticks, d.risk_per_contract) == ("GC", 3, 31, 310.0)
    d = size_position("GC", params, atr=6.0, profile=ZERO)  # 120 ticks: 1,200 per GC
    assert (d.symbol, d.contracts) == ("MGC", 8)  # 120 per MGC
    assert size_position("GC", params, profile=ZERO).reason == "no_stop"


def test_fixed_sizing_and_caps():
    d = size_position("NQ", SizingParams(method="fixed", fixed_contracts=3), stop_ticks=10)
    assert (d.symbol, d.contracts, d.risk_per_contract) == ("NQ", 3, 50.0)
    d = size_position("NQ", SizingParams(method="fixed", fixed_contracts=30))
    assert (d.contracts, d.reason) == (10, "max_contracts")
    d = size_position(
        "NQ", SizingParams(method="fixed", fixed_contracts=3), profile=DEFAULT_PROFILE,
        equity=2_500.0,
    )  # fmt: skip
    assert (d.contracts, d.reason) == (2, "margin")  # 1,000 intraday each


def test_bad_parameters():
    for bad in ({"method": "kelly"}, {"margin_fraction": 0}, {"atr_multiple": 0}):
        with pytest.raises(ValueError):
            SizingParams(**bad)


def test_the_contract_choice_names_the_month_and_keeps_every_candidate():
    from orderflow.trading.sizing import choose_contract, paired_instrument

    es = get_instrument("ESH4")
    assert paired_instrument(es).contract == "MESH4"
    assert paired_instrument(get_instrument("MESH4")).contract == "ESH4"
    assert paired_instrument(get_instrument("ES")).contract is None
    p = SizingParams(risk_per_trade=60.0)
    c = choose_contract(es, p, stop_ticks=8, profile=DEFAULT_PROFILE, equity=50_000.0)
    # one ES risks 8 x 12.50 + 5.58 = 105.58 > 60: none; one MES 8 x 1.25 + 1.54 = 11.54: 5
    assert (c.contract, c.decision.contracts) == ("MESH4", 5)
    d = c.to_dict()
    assert [(x["symbol"], x["contracts"], x["risk_per_contract"], x["total_risk"],
             x["margin_per_contract"]) for x in d["candidates"]] == [
        ("ES", 0, 105.58, 0.0, 500.0), ("MES", 5, 11.54, 57.7, 50.0)]  # fmt: skip
    # $250 keeps ES: 2 ES risk 211.16, 10 MES (max_contracts) only 115.40
    c = choose_contract(es, SizingParams(), stop_ticks=8, profile=DEFAULT_PROFILE)
    assert (c.contract, c.decision.contracts, c.decision.total_risk) == ("ESH4", 2, 211.16)
    # $150: 1 ES risks 105.58, 10 MES 115.40: the micro fits the budget better
    c = choose_contract(es, SizingParams(risk_per_trade=150.0), stop_ticks=8,
                        profile=DEFAULT_PROFILE)  # fmt: skip
    assert (c.contract, c.decision.contracts) == ("MESH4", 10)
    # off, or a fixed size: the contract given, one candidate
    off = choose_contract(es, SizingParams(risk_per_trade=60.0, auto_micro=False), stop_ticks=8,
                          profile=DEFAULT_PROFILE)  # fmt: skip
    assert (off.contract, off.decision.contracts, len(off.candidates)) == ("ESH4", 0, 1)
    fixed = choose_contract(es, SizingParams(method="fixed", fixed_contracts=3), stop_ticks=8)
    assert (fixed.contract, fixed.decision.contracts) == ("ESH4", 3)
