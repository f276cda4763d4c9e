"""The wire protocol of bus messages, and the base of the pydantic ones.

A message type offers ``to_wire()`` (a JSON-able dict) and the classmethod ``from_wire(dict)``
(its inverse); that is all the Redis bus needs, so a type that is not pydantic (a columnar
numpy batch) can be registered too. Messages are immutable: the in-process bus hands the same
object to every subscriber.

>>> class Ping(BusMessage):
...     n: int
>>> Ping.from_wire(Ping(n=1).to_wire()) == Ping(n=1)
True
"""

from __future__ import annotations

from typing import Any, Protocol, Self, runtime_checkable

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


class BusMessage(BaseModel):
    """Base of the pydantic message types: frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        return cls.model_validate(data)
