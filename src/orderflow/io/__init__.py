"""Readers and writers at the edge: every source is normalised into the dtypes of ``model``."""
