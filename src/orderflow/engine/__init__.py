"""The engine: one pipeline of book, analytics and signals, the same for live and replay.

* :mod:`.pipeline` — :class:`Pipeline`, fed event groups or chunks, readable at any time.
* :mod:`.runner` — replay a file or an array through a pipeline, with progress, and summarise.
"""

from orderflow.engine.pipeline import BOOK_KINDS, Pipeline, PipelineParams

__all__ = ["BOOK_KINDS", "Pipeline", "PipelineParams"]
