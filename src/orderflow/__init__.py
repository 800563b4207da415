"""orderflow: the order-flow engine behind a NinjaTrader 8 futures strategy."""

__version__ = "0.1.0"
