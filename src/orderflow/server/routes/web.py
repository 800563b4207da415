"""The trader's dashboard: ``GET /`` (the page, ``orderflow/web/index.html``) and ``/static/``
(its ES modules, styles and vendored libraries, ``orderflow/web/static/``), served from inside
the package so an installed orderflow ships them. Plain files, no build step; what the page
shows comes from the read-only viewer stream and its backfill (``docs/dashboard.md``).

``.js`` and ``.mjs`` are registered as ``text/javascript`` before anything is served: Windows'
registry (read by :mod:`mimetypes`) maps ``.js`` to ``text/plain`` on many machines, and a
browser refuses to run an ES module served so.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "WEB_DIR", "install_web", "router"]

#: the page's files inside the package
WEB_DIR = Path(__file__).resolve().parents[2] / "web"
STATIC_DIR = WEB_DIR / "static"

router = APIRouter(tags=["dashboard"])


def register_mime_types() -> None:
    """ES modules as ``text/javascript`` whatever the platform's own table says."""
    for ext in (".js", ".mjs"):
        mimetypes.add_type("text/javascript", ext)
    mimetypes.add_type("text/css", ".css")


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The dashboard page (``?instrument=ESH4`` picks the instrument, ``?result=NAME`` opens a
    backtest's result)."""
    return FileResponse(WEB_DIR / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip


def install_web(app: FastAPI) -> None:
    """Mount the page and its static files on ``app``."""
    register_mime_types()
    app.router.routes.extend(router.routes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
