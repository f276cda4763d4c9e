"""The wall's alarm sound: its settings and the silence shared by a wall's screens.

New red and orange alerts ring on the wall's screens (``console/static/wall/alarm.js``: the
board, and the screens ``alarm.screens`` names) until someone acknowledges them or the wall is
silenced. A wall belongs to the caller's jurisdiction (:func:`console.live.hub.wall_key`), as on
``/ws``: a town's wall ``main`` is not the district's.

- ``GET /api/wall/alarm?wall=NAME``: ``{wall, screens, repeat_s, silence_minutes, sounds,
  silenced_until, silenced_by}`` (``read``);
- ``POST /api/wall/alarm/silence`` (``wall``, ``minutes``: 0 ends the silence, default the
  setting): silences the wall and tells every screen of it on the websocket, ``{"type": "wall",
  "action": "silence", "wall", "silenced_until", "silenced_by"}``. Any screen of the wall may:
  ``read`` is enough (a paired wall screen silences its own wall), it changes no alert.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.console.api.deps import CurrentPrincipal, RequestScope, State
from zhizhi.console.live.hub import wall_key
from zhizhi.console.state import ConsoleState

router = APIRouter(prefix="/api/wall/alarm", tags=["wall"])

SOUNDS = {"red": "/static/wall/sounds/alarm-red.wav", "orange": "/static/wall/sounds/alarm-orange.wav"}
WallName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$", description="The wall's name.")]


class AlarmState(BaseModel):
    wall: str
    screens: list[str] = Field(description="The screens that ring: alerts, map, video.")
    repeat_s: float = Field(description="Seconds between repeats of the sound.")
    silence_minutes: float = Field(description="How long the silence button silences the wall.")
    sounds: dict[str, str] = Field(description="Severity -> the sound's URL.")
    silenced_until: float | None = Field(None, description="Epoch seconds; None: not silenced.")
    silenced_by: str | None = None


class SilenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wall: WallName
    minutes: float | None = Field(None, ge=0, le=240, allow_inf_nan=False,
                                  description="How long (0: sound again now; default: the setting).")


def _state(state: ConsoleState, code: str, wall: str) -> AlarmState:
    settings = state.settings.alarm
    silence = state.silences.get(wall_key(code, wall), now=time.time())
    return AlarmState(wall=wall, screens=list(settings.screens), repeat_s=settings.repeat_s,
                      silence_minutes=settings.silence_minutes, sounds=SOUNDS,
                      silenced_until=silence.until if silence else None,
                      silenced_by=silence.by if silence else None)


@router.get("")
def alarm_state(state: State, scope: RequestScope,
                wall: Annotated[str, Query(min_length=1, max_length=64)] = "main") -> AlarmState:
    """The wall's alarm settings and whether it is silenced."""
    return _state(state, scope.code, wall.strip() or "main")


@router.post("/silence")
def silence(state: State, scope: RequestScope, principal: CurrentPrincipal, body: SilenceBody) -> AlarmState:
    """Silence the wall (``minutes`` 0: sound again) and tell its screens."""
    now = time.time()
    minutes = state.settings.alarm.silence_minutes if body.minutes is None else body.minutes
    key = wall_key(scope.code, body.wall)
    state.silences.silence(key, until=now + minutes * 60, by=principal.username, now=now)
    answer = _state(state, scope.code, body.wall)
    if state.hub is not None:
        state.hub.publish({"type": "wall", "wall": body.wall, "action": "silence",
                           "silenced_until": answer.silenced_until, "silenced_by": answer.silenced_by,
                           "by": principal.username}, wall=key)
    return answer
