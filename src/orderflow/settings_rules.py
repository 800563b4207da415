"""The rules every setting is read by: its declared type walked through the sections and the
engine's parameter dataclasses (:func:`settings_leaves`), booleans only from
``true/false/1/0/yes/no``, no boolean taken for a number or for text, lists and mappings from
JSON when given as text (:func:`strict_value`), and every refusal as one line naming the dotted
key, the value and the reason (:func:`settings_error`). The settings themselves are in
:mod:`orderflow.settings`; the root of the walk is its ``Settings``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError

from orderflow.core.errors import ConfigError, ParameterError

__all__ = [
    "Leaf",
    "is_secret",
    "locate_error",
    "node_fields",
    "parse_overrides",
    "refusal",
    "settings_error",
    "settings_leaves",
    "show_value",
    "strict_value",
    "type_at",
]

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_CONTAINERS = (tuple, list, set, frozenset, dict)
_SECRET_WORDS = ("token", "secret", "password")
_REASONS = {
    "finite_number": "is not a finite number",
    "int_from_float": "is not a whole number",
    "int_parsing": "is not an integer",
    "int_type": "is not an integer",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "bool_parsing": "is not a boolean (true/false/1/0/yes/no)",
    "bool_type": "is not a boolean (true/false/1/0/yes/no)",
    "string_type": "is not text",
}


@dataclass(frozen=True, slots=True)
class Leaf:
    """One setting: its dotted key, declared type, default and description."""

    key: str
    annotation: Any
    default: Any
    description: str


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


@functools.cache
def node_fields(tp: Any) -> dict[str, Leaf] | None:
    """The fields of a settings section or parameter dataclass by name (keys relative), or None
    when ``tp`` is a leaf type."""
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {name: Leaf(name, f.annotation, f.get_default(call_default_factory=True),
                           f.description or "")
                for name, f in tp.model_fields.items()}  # fmt: skip
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        out: dict[str, Leaf] = {}
        for f in dataclasses.fields(tp):
            if f.init:
                factory: Any = f.default_factory
                default: Any = f.default
                if default is dataclasses.MISSING and factory is not dataclasses.MISSING:
                    default = factory()
                out[f.name] = Leaf(f.name, hints[f.name], default, "")
        return out
    return None


def settings_leaves(tp: Any, prefix: str = "") -> list[Leaf]:
    """Every setting under ``tp`` (the settings class, a section or a parameter dataclass),
    depth first, sections and parameter dataclasses walked through."""
    out: list[Leaf] = []
    for name, leaf in (node_fields(tp) or {}).items():
        key = f"{prefix}{name}"
        if node_fields(leaf.annotation) is None:
            out.append(Leaf(key, leaf.annotation, leaf.default, leaf.description))
        else:
            out += settings_leaves(leaf.annotation, key + ".")
    return out


def type_at(root: Any, key: str | tuple[Any, ...]) -> Any:
    """The declared type of a dotted key under ``root`` (a section, a dataclass or a leaf);
    None if unknown."""
    tp: Any = root
    for part in key.split(".") if isinstance(key, str) else key:
        fields = node_fields(tp)
        if fields is None or part not in fields:
            return None
        tp = fields[part].annotation
    return _strip(tp)


def show_value(value: Any) -> str:
    """A value as the operator wrote it, short: ``nan``, ``2.5``, ``'false'``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_secret(key: str) -> bool:
    return any(word in key.rsplit(".", 1)[-1].lower() for word in _SECRET_WORDS)


def refusal(key: str, value: Any, reason: str) -> ConfigError:
    return ConfigError(f"setting {key}: {show_value(value)} {reason}", field=key)


def _join(key: str, part: Any) -> str:
    return f"{key}.{part}" if key else str(part)


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise refusal(key, value, _REASONS["bool_parsing"])


def strict_value(value: Any, tp: Any, key: str) -> Any:
    """``value`` with its booleans parsed by the settings' rule, and no boolean taken for a
    number or for text (pydantic's lax mode would): the rest of the parsing is pydantic's."""
    tp = _strip(tp)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        alts = [a for a in typing.get_args(tp) if a is not type(None)]
        if (
            isinstance(value, str)
            and value.strip().lower() == "null"
            and len(alts) < len(typing.get_args(tp))
        ):
            return None  # the environment's and --set's way to turn an optional setting off
        return value if value is None or len(alts) != 1 else strict_value(value, alts[0], key)
    if tp is Path and isinstance(value, str) and not value.strip():
        raise refusal(key, value, "is an empty path (null turns an optional one off)")
    if tp is bool:
        return _to_bool(value, key)
    if tp in (int, float) and isinstance(value, bool):
        raise refusal(key, value, "is a boolean, not a number")
    if tp is str and isinstance(value, bool):
        raise refusal(key, value, "is a YAML boolean, not text: quote it")
    fields = node_fields(tp)
    if isinstance(value, str) and (fields is not None or origin in _CONTAINERS):
        try:  # the environment's and --set's form of a list or a mapping
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise refusal(key, value, "is not JSON (a list or a mapping is expected)") from exc
    if fields is not None:
        if not isinstance(value, dict):
            return value
        return {k: strict_value(v, fields[k].annotation, _join(key, k)) if k in fields else v
                for k, v in value.items()}  # fmt: skip
    args = typing.get_args(tp)
    if origin in (tuple, list, set, frozenset) and isinstance(value, list | tuple) and args:
        if origin is tuple and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return value  # pydantic names the length
            return [
                strict_value(v, a, f"{key}.{i}")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        return [strict_value(v, args[0], f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict) and args:
        return {k: strict_value(v, args[1], _join(key, k)) for k, v in value.items()}
    return value


def _named_field(tp: Any, reason: str, given: Any, prefix: str = "") -> str | None:
    """The field of dataclass ``tp`` a refusal is about: the first one its message names that
    the operator set, else the first one it names, else the one whose text it quotes (or the
    only one given)."""
    fields = node_fields(tp) or {}
    words: list[str] = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", reason)
    named = [w for w in dict.fromkeys(words) if w in fields]
    named.sort(key=lambda w: not (isinstance(given, dict) and w in given))
    for w in named:
        if node_fields(fields[w].annotation) is not None:  # walls: {multiple: -1}
            sub = given.get(w) if isinstance(given, dict) else None
            deeper: str | None = _named_field(fields[w].annotation, reason, sub, f"{prefix}{w}.")
            return deeper or prefix + w
        return prefix + w
    if isinstance(given, dict):  # "'kelly' is not a valid SizingMethod": the text it quotes
        quoted: list[str] = [k for k, v in given.items() if k in fields and isinstance(v, str)
                             and repr(v) in reason]  # fmt: skip
        flat: list[str] = [k for k, v in given.items() if k in fields and not isinstance(v, dict)]
        if quoted or len(flat) == len(given) == 1:
            return prefix + (quoted or flat)[0]
    for name, leaf in fields.items():  # a nested class's field (analytics.book.walls.multiple)
        if node_fields(leaf.annotation) is not None:
            sub = given.get(name) if isinstance(given, dict) else None
            found = _named_field(leaf.annotation, reason, sub, f"{prefix}{name}.")
            if found:
                return found
    return None


def _given_or_default(tp: Any, given: Any, path: str) -> Any:
    for part in path.split("."):
        fields = node_fields(tp) or {}
        if isinstance(given, dict) and part in given:
            given = given[part]
        elif part in fields:
            given = fields[part].default
        else:
            return None
        tp = fields[part].annotation if part in fields else None
    return given


def settings_error(exc: ValidationError, root: Any) -> ConfigError:
    """The first problem of validating ``root`` (the settings class) as one line naming the
    key, the value and the reason."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "settings"
    kind, value = err["type"], err.get("input")
    if kind in ("value_error", "assertion_error"):
        cause = err.get("ctx", {}).get("error")
        reason = str(cause) if cause is not None else err["msg"]
        if reason.startswith("setting "):
            return ConfigError(reason, field=key)
        tp = type_at(root, loc)
        found = _named_field(tp, reason, value) if node_fields(tp) is not None else None
        if found:
            key, value = f"{key}.{found}", _given_or_default(tp, value, found)
        return refusal(key, value, f"is refused: {reason}")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = ", ".join(sorted(node_fields(type_at(root, loc[:-1])) or ()))
        return ConfigError(f"setting {key}: unknown key (known: {known})", field=key)
    reason = _REASONS.get(kind) or err["msg"].replace("Input should be", "should be", 1)
    return refusal(key, value, reason)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``--set trading.server.strategy=false``) as nested mappings:
    values are text, parsed to the key's type as the environment's are (lists and mappings as
    JSON)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (dotted key)", field=key)
        value: Any = text
        node = out
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {item!r}: {part} is set twice", field=key)
            node = nxt
        node[parts[-1]] = value
    return out


def locate_error(value: Any, handler: Any) -> Any:
    """A parameter class refusing its values with an error pydantic would not place (a
    :class:`ConfigError`, a ``TypeError``): made a :class:`ParameterError` (a ``ValueError``),
    which pydantic places at the class's key."""
    try:
        return handler(value)
    except (ConfigError, TypeError) as exc:
        raise ParameterError(exc.message if isinstance(exc, ConfigError) else str(exc)) from exc
