"""Order-flow analytics: trades and bars, book metrics, footprint, delta, VWAP, profile, clusters.

Inputs are the normalised streams (``model.dtypes``) and the books' per-boundary depth records
(``book.common.DepthRecord``); every metric is updated per event group and readable at any time,
with the same code live and in replay. Nothing here does I/O or reads the wall clock.
"""
