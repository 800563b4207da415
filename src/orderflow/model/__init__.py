"""Instruments, codes and the shapes of events (single messages and bulk arrays)."""
