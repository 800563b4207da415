"""Research on top of the backtest: parameter sweeps (local processes or a Ray cluster) and
conversions of the server's recordings into the Parquet store."""
