"""Order books: NinjaTrader's position-indexed L2 ladder, a price-level L2 book and an L3 book."""
