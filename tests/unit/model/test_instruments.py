from decimal import Decimal

import pytest

from orderflow.core.errors import ConfigError
from orderflow.model.instruments import REGISTRY, get_instrument, micro_of_standard

# Contract specifications, CME Group pages (shared/docs/ninjatrader-api.md section 5)
SPECS = {
    "ES": ("0.25", "12.50"),
    "MES": ("0.25", "1.25"),
    "NQ": ("0.25", "5.00"),
    "MNQ": ("0.25", "0.50"),
    "YM": ("1", "5.00"),
    "MYM": ("1", "0.50"),
    "RTY": ("0.1", "5.00"),
    "M2K": ("0.1", "0.50"),
    "CL": ("0.01", "10.00"),
    "MCL": ("0.01", "1.00"),
    "GC": ("0.1", "10.00"),
    "MGC": ("0.1", "1.00"),
}


@pytest.mark.parametrize("symbol", sorted(SPECS))
def test_tick_size_and_tick_value_match_contract_specs(symbol):
    inst = REGISTRY[symbol]
    tick, value = SPECS[symbol]
    assert Decimal(inst.tick_size) == Decimal(tick)
    assert inst.tick_value == Decimal(value)


def test_micro_is_one_tenth_of_its_standard():
    for micro in ("MES", "MNQ", "MYM", "M2K", "MCL", "MGC"):
        inst = REGISTRY[micro]
        std = REGISTRY[inst.micro_of]
        assert (
            Decimal(std.point_value)
            == Decimal(inst.point_value) * inst.micro_ratio
            == (Decimal(inst.point_value) * 10)
        )
        assert micro_of_standard(std.symbol) == micro


def test_contract_and_ninjatrader_names_resolve_to_the_root():
    assert get_instrument("ESH4").symbol == "ES"
    assert get_instrument("ESH4").contract == "ESH4"
    assert get_instrument("MNQ 12-25").contract == "MNQZ5"
    with pytest.raises(ConfigError):
        get_instrument("XYZ")


def test_a_contract_looked_up_again_follows_a_root_replaced_in_the_registry() -> None:
    import dataclasses

    from orderflow.model.instruments import REGISTRY, get_instrument

    first = get_instrument("ES 03-24")
    assert get_instrument("ES 03-24") is first and first.contract == "ESH4"  # cached
    root = REGISTRY["ES"]
    try:
        REGISTRY["ES"] = dataclasses.replace(root, name="E-mini S&P 500 (test)")
        again = get_instrument("ES 03-24")
        assert again is not first and again.name == "E-mini S&P 500 (test)"
    finally:
        REGISTRY["ES"] = root
    assert get_instrument("ES 03-24").name == root.name
