"""The trading engine (issue 5): NinjaTrader's unmanaged orders mirrored and driven by the
bridge's reports, positions and P&L, risk and sizing checked before any order leaves, trading
sessions, broker profiles. Transport-free: the server and the backtester feed it the same way.
"""
