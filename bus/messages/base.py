"""The wire protocol of bus messages, and the base of the pydantic ones.

A message type offers ``to_wire()`` (a JSON-able dict) and the classmethod ``from_wire(dict)``
(its inverse); that is all the Redis bus needs, so a type that is not pydantic (a columnar
numpy batch) can be registered too. Messages are immutable: the in-process bus hands the same
object to every subscriber.

>>> class Ping(BusMessage):
...     KIND = "ping"
...     n: int
>>> Ping(n=1).to_wire()
{'type': 'ping', 'n': 1}
>>> Ping.from_wire({"type": "ping", "n": 1}) == Ping(n=1)
True
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict


@runtime_checkable
class WireMessage(Protocol):
    """What every message type of the bus offers: a JSON form and its inverse."""

    def to_wire(self) -> dict[str, Any]:
        """The message as a JSON-able dict (what the Redis bus writes)."""
        ...

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """The message back from :meth:`to_wire`'s dict; ``ValueError`` when it does not fit."""
        ...


#: Epoch seconds before this are refused in device times (a clock never set reports 1970).
EARLIEST_TS = 946_684_800.0  # 2000-01-01T00:00:00Z


class BusMessage(BaseModel):
    """Base of the pydantic message types: frozen, unknown fields refused.

    ``KIND``, when set, is the wire form's ``"type"`` (first key; what the browsers switch on):
    written by :meth:`to_wire`, checked and dropped by :meth:`from_wire`. The wire form is
    computed once per message (it is frozen) and shared by every reader: never change it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str | None] = None

    def to_wire(self) -> dict[str, Any]:
        return self._wire

    def _wire_form(self) -> dict[str, Any]:
        """The wire form, computed (subclasses whose form differs override this)."""
        data = self.model_dump(mode="json")
        return data if self.KIND is None else {"type": self.KIND, **data}

    @cached_property
    def _wire(self) -> dict[str, Any]:
        return self._wire_form()

    def _known_wire(self, wire: dict[str, Any]) -> Self:
        """Keep ``wire`` as this message's wire form (built by its publisher with the message)."""
        self.__dict__["_wire"] = wire
        return self

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        if cls.KIND is not None:
            data = dict(data)
            kind = data.pop("type", None)
            if kind != cls.KIND:
                raise ValueError(f"a {cls.__name__} has type {cls.KIND!r}, not {kind!r}")
        return cls.model_validate(data)
