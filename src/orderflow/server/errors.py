"""Errors to HTTP answers, in one place: the body is the error's ``to_dict()`` (``{"error":
{"code", "message", "details"}}``), the status its class's ``status_code`` (see
:mod:`orderflow.core.errors`). Never a stack trace: anything unexpected is a bare 500."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from orderflow.core.errors import OrderflowError, RequestError

__all__ = ["error_response", "install_error_handler"]


def error_response(exc: OrderflowError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The answer to ``exc``: its body and its class's status."""
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)


async def _request_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    return error_response(exc)


def install_error_handler(app: FastAPI) -> None:
    """A :class:`RequestError` a route raises becomes its answer (status from its class)."""
    app.add_exception_handler(RequestError, _request_error)
