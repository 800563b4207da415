"""The dashboard's files as the server gives them: ``GET /`` is the page, ``/static/`` its ES
modules as ``text/javascript`` even where the platform's table says ``text/plain`` for ``.js``
(Windows' registry often does, and a browser then refuses to run the modules), every file the
page imports is served, and nothing outside the static folder can be reached through it."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator

import httpx
import pytest

from orderflow.server.app import create_app
from orderflow.server.routes.web import STATIC_DIR, WEB_DIR
from orderflow.server.threaded import ThreadedServer


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    # what Windows' registry does to the table mimetypes reads: .js as text/plain
    mimetypes.add_type("text/plain", ".js")
    mimetypes.add_type("text/plain", ".mjs")
    s = ThreadedServer(create_app())
    yield s
    s.stop()
    for ext in (".js", ".mjs"):
        mimetypes.add_type("text/javascript", ext)


def test_the_page_and_its_modules(server: ThreadedServer) -> None:
    with httpx.Client(base_url=server.http, timeout=10) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.text == (WEB_DIR / "index.html").read_text()
        for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
            r = c.get(src)
            assert r.status_code == 200, src
        for path in [*STATIC_DIR.glob("*.js"), *STATIC_DIR.rglob("*.mjs")]:
            rel = path.relative_to(STATIC_DIR).as_posix()
            r = c.get(f"/static/{rel}")
            assert r.status_code == 200, rel
            assert r.headers["content-type"].split(";")[0] == "text/javascript", rel
            assert r.content == path.read_bytes()
        css = c.get("/static/dashboard.css")
        assert css.headers["content-type"].split(";")[0] == "text/css"


def test_every_import_of_the_page_resolves() -> None:
    """Each relative import in the page's modules names a file that exists (a typo would be
    a blank page in the browser, found only there)."""
    for path in STATIC_DIR.glob("*.js"):
        for target in re.findall(r'from\s+"(\./[^"]+)"', path.read_text()):
            assert (path.parent / target).resolve().is_file(), (path.name, target)


@pytest.mark.parametrize("path", ["/static/../index.html", "/static/%2e%2e/index.html",
                                  "/static/../../server/app.py", "/static/nope.js"])  # fmt: skip
def test_nothing_outside_the_static_folder(server: ThreadedServer, path: str) -> None:
    r = httpx.get(f"{server.http}{path}", timeout=10)
    assert r.status_code == 404, (path, r.status_code)
