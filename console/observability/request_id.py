"""A request id on every request: read from the proxy's header or made here, kept in a context
variable for the log lines of the request (:mod:`console.observability.logs`), sent back in the
same header on the answer (also the refusals of the other middlewares: this one is outermost).

A header value is taken only when it is a plain token of at most 64 characters (letters, digits,
``. _ : @ / + = -``); anything else (control characters, spaces, quotes, a longer text) would let a
client forge or break log lines and is replaced by a fresh id (32 hex digits).

>>> request_id_from("req-7f3a"), len(request_id_from('x" forged=1')), len(request_id_from(None))
('req-7f3a', 32, 32)
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The id of the request being handled in this context (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("zhizhi_request_id", default=None)
_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")


def request_id_from(value: str | None) -> str:
    """``value`` when it is an acceptable id, else a new one."""
    if value is not None and _ACCEPTED.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestId:
    """Pure ASGI middleware: the request id of every HTTP request and websocket handshake."""

    def __init__(self, app: ASGIApp, header: str = "X-Request-ID") -> None:
        self.app = app
        self.header = header
        self._raw = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == self._raw), None)
        request_id = request_id_from(given.decode("latin-1") if given is not None else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[self.header] = request_id
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
