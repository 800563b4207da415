"""The fixed-point price scale, below both the exact conversions (:mod:`orderflow.core.units`)
and their compiled array passes (:mod:`orderflow.core._units_kernels`), so that the exact ones
load without the compiler."""

from __future__ import annotations

#: Fixed-point scale shared with Databento: one unit is 1e-9 of a price unit.
PRICE_SCALE = 1_000_000_000
#: Databento's "undefined price" sentinel (int64 max).
UNDEF_PRICE = 9_223_372_036_854_775_807
#: below this magnitude ``price * 1e9`` stays under 2**53, so the vectorised path is exact
VECTOR_EXACT = 9_000_000.0
