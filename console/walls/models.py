"""The boundary of the walls API: a wall with its slots, a paired device, a pairing code.

A slot is one screen of a wall: ``map``, ``video``, ``alerts``, ``incident`` (the map screen
following the wall's incident) or ``custom`` (the video screen with a named tile layout). Its
URL is what a paired screen opens (:func:`slot_url`).

>>> wall = WallBody(name="main", title="区指挥中心", code="320612",
...                 slots=[Slot(name="left", kind="map", kiosk=True), Slot(name="right", kind="video")])
>>> slot_url("main", wall.slots[0])
'/wall?screen=map&wall=main&slot=left&kiosk=1'
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zhizhi.console.wall_tiles import is_layout_name
from zhizhi.gis.codes import CODE_PATTERN

SlotKind = Literal["map", "video", "alerts", "incident", "custom"]
SLOT_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
WALL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: The screen page each kind of slot opens (``/wall?screen=``).
SLOT_SCREEN: dict[str, str] = {
    "map": "map", "video": "video", "alerts": "alerts", "incident": "map", "custom": "video",
}


class Slot(BaseModel):
    """One screen of a wall."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SLOT_NAME, description="Unique within the wall: a-z, 0-9, '_' or '-'.")
    kind: SlotKind
    title: str = Field("", max_length=64, description="What the admin page calls it (e.g. 左屏).")
    layout: str | None = Field(None, min_length=1, max_length=64, description="custom slots: the layout's name.")
    kiosk: bool = Field(False, description="Kiosk mode: no cursor, title line only, fullscreen.")

    @model_validator(mode="after")
    def _layout(self) -> Slot:
        if self.kind == "custom" and not self.layout:
            raise ValueError("a custom slot needs a layout name")
        if self.kind != "custom" and self.layout is not None:
            raise ValueError(f"only custom slots have a layout, not a {self.kind} slot")
        if self.layout is not None and not is_layout_name(self.layout):  # the video screen's ?layout=NAME
            raise ValueError(f"{self.layout!r} cannot name a layout: no slash or space, and not a number")
        return self


class WallBody(BaseModel):
    """A wall as created or replaced (``POST /api/walls``, ``PUT /api/walls/{id}``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=WALL_NAME, description="Unique within its jurisdiction; the ?wall= of its screens.")
    title: str = Field(min_length=1, max_length=128)
    code: str = Field(pattern=CODE_PATTERN, description="The wall's jurisdiction: the caller's or one below it.")
    slots: list[Slot] = Field(min_length=1, max_length=16)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the title is empty")
        return value.strip()

    @field_validator("slots")
    @classmethod
    def _unique(cls, slots: list[Slot]) -> list[Slot]:
        names = [s.name for s in slots]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"slot names must be unique: {', '.join(twice)} more than once")
        return slots


class Wall(WallBody):
    """A stored wall."""

    id: int
    created_at: datetime
    updated_at: datetime


class PairBody(BaseModel):
    """An admin pairs the screen showing ``code`` to ``slot`` (``POST /api/walls/{id}/devices``)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=16, description="The code on the screen (case, spaces and '-' ignored).")
    slot: str = Field(pattern=SLOT_NAME)
    label: str = Field("", max_length=64, description="Where the screen is (e.g. 指挥大厅左一).")


class Device(BaseModel):
    """A screen paired to a wall's slot (never its credential)."""

    id: int
    wall_id: int
    slot: str
    label: str
    paired: bool = Field(description="Whether the screen has collected its credential.")
    created_at: datetime
    created_by: str
    last_seen_at: datetime | None


class PairingCode(BaseModel):
    """What an unpaired screen shows and keeps (``POST /api/wall/pairings``)."""

    code: str = Field(description="Show it, large; an admin enters it on the walls page.")
    claim: str = Field(description="The screen's secret: POST it to /api/wall/pairings/claim.")
    expires_in: float


class ClaimBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: str = Field(min_length=16, max_length=128)


class Claimed(BaseModel):
    """The answer to a screen asking for its credential."""

    status: Literal["waiting", "paired"]
    expires_in: float | None = Field(None, description="waiting: seconds the code still lives.")
    token: str | None = Field(None, description="paired: the device credential, sent once (keep it).")
    wall: str | None = None
    slot: str | None = None
    url: str | None = Field(None, description="paired: the slot's screen.")


class DeviceInfo(BaseModel):
    """A paired screen asking who it is (``GET /api/wall/device``)."""

    device_id: int
    wall_id: int
    wall: str
    title: str
    code: str
    slot: Slot
    url: str


def slot_url(wall: str, slot: Slot) -> str:
    """The page a screen paired to ``slot`` of the wall ``wall`` opens."""
    query = {"screen": SLOT_SCREEN[slot.kind], "wall": wall, "slot": slot.name}
    if slot.kind == "incident":
        query["view"] = "incident"
    if slot.layout:
        query["layout"] = slot.layout
    if slot.kiosk:
        query["kiosk"] = "1"
    return "/wall?" + urlencode(query)
