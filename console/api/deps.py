"""Request dependencies: the console state and the caller's jurisdiction scope.

Until users and tokens arrive (the console issue), the caller's jurisdiction comes from the
``X-Zhizhi-Jurisdiction`` header and defaults to the whole district. Every read path takes
its :class:`layers.Scope` from :func:`request_scope`, so authentication will only change how
the code is obtained, not what a code may see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from console.state import ConsoleState
from layers import Scope

JURISDICTION_HEADER = "X-Zhizhi-Jurisdiction"


def console_state(request: Request) -> ConsoleState:
    """The :class:`ConsoleState` built at start-up."""
    return request.app.state.console


State = Annotated[ConsoleState, Depends(console_state)]


def request_scope(
    state: State,
    jurisdiction: Annotated[str | None, Header(alias=JURISDICTION_HEADER)] = None,
) -> Scope:
    """The scope of the caller's jurisdiction (the whole district by default)."""
    code = jurisdiction or state.jurisdictions.district_code
    if code not in state.jurisdictions:
        raise HTTPException(status_code=403, detail=f"unknown jurisdiction {code!r}")
    return state.scope_for(code)


RequestScope = Annotated[Scope, Depends(request_scope)]
