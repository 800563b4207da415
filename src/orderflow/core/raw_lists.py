"""A list of protocol items left as the MessagePack bytes msgspec wrote for it, read into an
array of numbers when its frame was decoded (``orderflow.server.frames``): the objects are
made only if something reads the list as a list. ``orderflow.protocol`` defines the kinds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, TypeVar, overload

import msgspec
import numpy as np

__all__ = ["RawList"]

_T = TypeVar("_T")


class RawList(Sequence[_T]):
    """In a batch, a list of protocol items (``protocol.RawRows``: its depth events;
    ``protocol.RawTicks``: its prints) as the MessagePack bytes msgspec wrote for it, checked
    whole and read into ``block`` (int64 numbers, as the compiled conversion takes them) when
    the frame was decoded (``server.frames``). Read as a list it gives the objects, decoded once
    (those a full decoding gives); encoded (:meth:`enc_hook`), those objects' bytes. One
    mechanism for every list read this way: a kind is its decoder and its block's layout."""

    __slots__ = ("_events", "block", "n", "raw")
    __hash__ = None  # type: ignore[assignment]  # a list's equality, not its identity
    #: the objects' decoder (each kind's)
    _decoder: ClassVar[msgspec.msgpack.Decoder[Any]]
    _events: list[_T] | None

    def __init__(self, raw: msgspec.Raw, block: np.ndarray, n: int) -> None:
        self.raw, self.block, self.n = raw, block, n
        self._events = None

    def events(self) -> list[_T]:
        """The items as objects (decoded once)."""
        ev = self._events
        if ev is None:
            ev = self._events = self._decoder.decode(self.raw)
        return ev

    def __len__(self) -> int:
        return self.n

    def __bool__(self) -> bool:
        return self.n > 0

    def __iter__(self) -> Iterator[_T]:
        return iter(self.events())

    @overload
    def __getitem__(self, i: int) -> _T: ...
    @overload
    def __getitem__(self, i: slice) -> list[_T]: ...
    def __getitem__(self, i: int | slice) -> _T | list[_T]:
        return self.events()[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawList):
            return self.events() == other.events()
        return self.events() == other

    @property
    def times(self) -> np.ndarray:
        """The items' times (each kind's place in its block)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return repr(self.events())

    @staticmethod
    def enc_hook(obj: Any) -> Any:
        """For a MessagePack encoder: a :class:`RawList` as its bytes; any other object is not
        encodable (as without the hook)."""
        if isinstance(obj, RawList):
            return obj.raw
        raise NotImplementedError(f"Encoding objects of type {type(obj).__name__} is unsupported")
