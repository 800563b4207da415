"""The bodies of the REST routes in ``/docs`` (OpenAPI), drawn from the wire structs.

Requests are decoded by msgspec (:mod:`orderflow.protocol`: the hot path, and the refusals
that name the field); these schemas only document them. ``msgspec.json.schema_components``
writes the JSON Schema of each struct into ``components/schemas`` and a route names its body
with :func:`body` (``openapi_extra``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from orderflow.protocol import Ack, Batch, ClientId, Command, Name, NonNegative, Quantity

__all__ = ["CommandRequest", "ErrorBody", "body", "install_openapi"]

_REF = "#/components/schemas/{name}"


class CommandRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /api/commands``: an unmanaged order command for a connected bridge, the fields
    of a protocol ``command`` but ``command_seq`` (the server numbers it). ``bracket`` (with
    the trading engine on) submits an entry with its stop and targets, in ticks from the
    entry."""

    client: Annotated[str, msgspec.Meta(min_length=1, description="the bridge's client name")]
    instrument: Name
    op: Literal["submit", "bracket", "change", "cancel"]
    cid: ClientId
    action: Literal["Buy", "Sell", "SellShort", "BuyToCover"] | None = None
    order_type: Literal["Market", "Limit", "StopMarket", "StopLimit", "MIT"] | None = None
    quantity: NonNegative = 0
    limit_price: float = 0.0
    stop_price: float = 0.0
    oco: str = ""
    series: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    stop_ticks: Quantity | None = None
    target_ticks: Quantity | None = None
    targets_ticks: list[Quantity] | None = None
    target_sizes: list[Quantity] | None = None


class CommandAnswer(msgspec.Struct, frozen=True):
    """The command as sent to the bridge; its fate is then in ``GET /api/orders/{cid}``."""

    command: Command
    status: Literal["pending"]


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(msgspec.Struct, frozen=True):
    """Every refusal: ``details.field`` names the field at fault."""

    error: ErrorDetail


_ERRORS = {
    "400": "a field is missing or wrong (named in the message and details.field)",
    "401": "the token is missing or wrong",
    "409": "the request conflicts with the server's state",
    "413": "the body is over the size limit",
    "422": "refused by the order desk or the risk manager",
    "429": "over the connection's rate limit (Retry-After)",
    "503": "not now: overloaded, a recording or journal that cannot be written (Retry-After)",
}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(name=name)}}}


def body(
    request: type[msgspec.Struct], answer: type[msgspec.Struct], *errors: str
) -> dict[str, Any]:
    """``openapi_extra`` of a route whose raw body is ``request`` and whose answer ``answer``
    (the route reads the body itself, so FastAPI sees no parameter for it)."""
    responses: dict[str, Any] = {"200": {"content": _json(answer.__name__)}}
    for status in errors:
        responses[status] = {"description": _ERRORS[status], "content": _json("ErrorBody")}
    return {
        "requestBody": {"required": True, "content": _json(request.__name__)},
        "responses": responses,
    }


def components() -> dict[str, Any]:
    """The JSON Schemas of the documented structs and of everything they contain."""
    _, out = msgspec.json.schema_components(
        [Batch, Ack, CommandRequest, CommandAnswer, ErrorBody], ref_template=_REF
    )
    batch = dict(out["Batch"])  # over REST the tag ``type`` may be left out
    batch["required"] = [f for f in batch.get("required", []) if f != "type"]
    out["Batch"] = batch
    return out


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()`` with the wire structs' schemas among its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
