"""The server's shared-secret token: where it comes from and the gate every request passes.

With a token set, every HTTP route but ``/health`` (and the dashboard's static page and files,
which hold no data) answers 401 (the one error body) unless the
request carries the token, as ``x-orderflow-token: T`` or ``Authorization: Bearer T`` (what
Prometheus' ``authorization.credentials_file`` sends); every token header given must be right.
``/health`` passes the gate either way and learns whether the caller proved the token (it then
answers liveness only). A WebSocket may prove the token at the upgrade (same headers) or in its
``hello``; a wrong header refuses the upgrade with the same 401.

Tokens are compared as SHA-256 digests with :func:`hmac.compare_digest`: constant time, whatever
the bytes or the length a client sends. A token is 1 to 1024 visible ASCII characters (it
travels in an HTTP header); it comes from ``--token``, ``--token-file``, ``server.token``
(``ORDERFLOW_SERVER__TOKEN``) or ``server.token_file``, so it never has to be on a command line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import stat
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

from orderflow.core.errors import ConfigError, UnauthorisedError

__all__ = [
    "AUTH_KEY",
    "TokenGate",
    "check_token",
    "read_token_file",
    "resolve_token",
    "token_matches",
]

log = logging.getLogger("orderflow.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the scope key the gate sets: True when the request proved the token (or none is set)
AUTH_KEY = "orderflow.authorised"
#: paths that pass the gate without the token (they answer liveness only)
OPEN_PATHS = frozenset({"/health"})
#: the dashboard's page and its static files pass too: they hold no data, and a browser cannot
#: send a header when it navigates; what the page reads and does needs the token (its URL's
#: ``?token=``, sent on as ``Authorization: Bearer``)
PAGE_PATHS = frozenset({"/"})
PAGE_PREFIX = "/static/"
MAX_TOKEN = 1024
_TOKEN_RE = re.compile(rf"[\x21-\x7e]{{1,{MAX_TOKEN}}}")


def check_token(token: str, field: str = "server.token") -> str:
    """``token`` when it can be a token (1 to 1024 visible ASCII characters), else ConfigError."""
    if not _TOKEN_RE.fullmatch(token):
        what = "empty" if not token else f"{len(token)} characters"
        raise ConfigError(
            f"setting {field}: a token is 1 to {MAX_TOKEN} visible ASCII characters without "
            f"spaces ({what} given)",
            field=field,
        )
    return token


def read_token_file(path: str | os.PathLike[str], field: str = "server.token_file") -> str:
    """The token in ``path`` (surrounding whitespace and the final newline dropped). Refused
    when the file is missing, empty, or readable or writable by anyone but its owner (POSIX;
    ``chmod 600 PATH``), as ssh refuses a private key."""
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"setting {field}: {p}: {exc}", field=field) from exc
    if os.name == "posix" and st.st_mode & 0o077:
        raise ConfigError(
            f"setting {field}: {p} is open to others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"make it private: chmod 600 {p}",
            field=field,
        )
    return check_token(text, field)


def resolve_token(
    token: str | None,
    token_file: str | os.PathLike[str] | None,
    setting_token: str | None = None,
    setting_file: str | os.PathLike[str] | None = None,
) -> str | None:
    """The token from the command line (``token`` / ``token_file``, one of them), else from the
    settings (``server.token`` / ``server.token_file``, one of them); None: no token."""
    for given, file, where in ((token, token_file, "--token and --token-file"),
                               (setting_token, setting_file,
                                "server.token and server.token_file")):  # fmt: skip
        if given is not None and file is not None:
            raise ConfigError(f"setting {where}: give one of them, not both", field="server.token")
        if given is not None:
            return check_token(given)
        if file is not None:
            return read_token_file(file)
    return None


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def token_matches(expected: str, given: str | bytes | None) -> bool:
    """Constant-time comparison of ``given`` (any bytes, any length) with ``expected``."""
    if given is None:
        return False
    raw = given if isinstance(given, bytes) else given.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(_digest(raw), _digest(expected.encode("ascii")))


def _given(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Every token the request offers; an ``Authorization`` header that is not ``Bearer T``
    counts as a wrong token."""
    out: list[bytes] = []
    for name, value in headers:
        key = name.lower()
        if key == b"x-orderflow-token":
            out.append(value)
        elif key == b"authorization":
            scheme, _, rest = value.partition(b" ")
            out.append(rest.strip() if scheme.lower() == b"bearer" else b"\x00" + value)
    return out


def _refusal() -> bytes:
    return orjson.dumps(UnauthorisedError("token: missing or wrong", field="token").to_dict())


class TokenGate:
    """ASGI middleware: the token on every route but :data:`OPEN_PATHS` (see the module)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def authorised(self, given: str | bytes | None) -> bool:
        """True when no token is set or ``given`` is it."""
        return self.token is None or token_matches(self.token, given)

    def verdict(self, scope: Scope) -> bool | None:
        """True: proved; False: a token header is wrong; None: no token header at all."""
        if self.token is None:
            return True
        given = _given(scope.get("headers") or [])
        if not given:
            return None
        return all(token_matches(self.token, g) for g in given)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        verdict = self.verdict(scope)
        scope[AUTH_KEY] = verdict is True
        if verdict is True or (verdict is None and kind == "websocket"):
            return await self.app(scope, receive, send)  # a WebSocket may prove it in hello
        path = scope.get("path") or ""
        if kind == "http" and (
            path in OPEN_PATHS or path in PAGE_PATHS or path.startswith(PAGE_PREFIX)
        ):
            return await self.app(scope, receive, send)
        await self.refuse(scope, send)

    async def refuse(self, scope: Scope, send: Send) -> None:
        body = _refusal()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()),
                   (b"www-authenticate", b'Bearer realm="orderflow"')]  # fmt: skip
        status = UnauthorisedError.status_code
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": status,
                        "headers": headers})  # fmt: skip
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the denial extension answers 403
            await send({"type": "websocket.close", "code": 1008})
