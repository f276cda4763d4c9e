"""The console's request guards, one place for every route (pure ASGI, so streams and
websockets pass untouched):

* :class:`ClientAddress` — who the client is. The connecting address, unless it is one of
  ``settings.auth.trusted_proxies``: then the nearest address of ``X-Forwarded-For`` that is
  not a trusted proxy (:func:`client_address`). A client that is not a trusted proxy cannot
  choose its address with a header (the login limits count by address). uvicorn must not
  rewrite the client itself: the console runs it with ``proxy_headers=False``.
* :class:`HostileInput` — request bodies that would break the code behind them answered with
  a 4xx before any route sees them: a body over the size limit (413), JSON nested deeper than
  :data:`MAX_JSON_DEPTH` (422; Python's parser would overflow its stack), and a JSON string
  (key or value) holding a lone UTF-16 surrogate (``"\\ud800"``) or a NUL character, which no
  database or JSON answer can store (422 naming the field, FastAPI's error shape); a NUL in
  the path or a query value likewise (PostgreSQL cannot store it). Query strings and paths
  cannot carry surrogates: they are percent-decoded with replacement characters.
* :class:`SecurityHeaders` — ``Content-Security-Policy`` (:func:`content_security_policy`),
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: same-origin`` on every HTTP answer that does not set them itself.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Deepest JSON a request body may nest (a GeoJSON polygon is 7 deep).
MAX_JSON_DEPTH = 64
#: Longest run of digits outside strings (a number Python would refuse to convert is 4,300).
MAX_NUMBER_DIGITS = 400

# --- the client's address ----------------------------------------------------------------


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """The networks of ``settings.auth.trusted_proxies`` (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.2 is 10.0.0.2
    return mapped if mapped is not None else address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The client's address: ``peer`` (the connecting address), unless ``peer`` is a trusted
    proxy; then the nearest ``X-Forwarded-For`` entry (walking from the right, the hop each
    proxy added) that is not a trusted proxy itself. An entry that is not an address ends the
    walk at the last trusted hop.

    >>> proxies = parse_networks(["10.0.0.0/24"])
    >>> client_address("203.0.113.9", ["198.51.100.7"], proxies)  # not a proxy: header ignored
    '203.0.113.9'
    >>> client_address("10.0.0.2", ["198.51.100.7, 192.0.2.4, 10.0.0.3"], proxies)
    '192.0.2.4'
    >>> client_address("10.0.0.2", [], proxies)
    '10.0.0.2'
    """
    if peer is None or not trusted or not _trusted(_address(peer), trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    nearest = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return nearest
        nearest = str(address)
        if not _trusted(address, trusted):
            return nearest
    return nearest


class ClientAddress:
    """Set the ASGI ``client`` to :func:`client_address` (a no-op without trusted proxies)."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted = parse_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if self.trusted and scope["type"] in ("http", "websocket") and client:
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
            real = client_address(client[0], forwarded, self.trusted)
            if real != client[0]:
                scope = dict(scope, client=(real, client[1]))
        await self.app(scope, receive, send)


# --- hostile bodies ----------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
# Digits as "0", anything else as " ": a long number is a long run of "0".
_DIGITS_ONLY = bytes(ord("0") if chr(b).isdigit() and b < 128 else ord(" ") for b in range(256))
# The raw UTF-8 form of surrogates (invalid UTF-8 that json.loads lets through).
_SUSPECT_RAW = re.compile(rb"\xed[\xa0-\xbf]")
_BAD_CHARS = re.compile("[\ud800-\udfff\x00]")
_UNSCANNED = ("multipart/", "application/x-www-form-urlencoded")


def json_depth(body: bytes) -> int:
    r"""How deep the arrays and objects of a JSON text nest (brackets inside strings do not
    count; for text that is not JSON, an estimate). Vectorised: ~15 ms for 4 MB.

    >>> json_depth(b'{"a": [[1, 2], {"b": "[[[["}]}'), json_depth(b'["\\\\", ["\\"[["]]'), json_depth(b"1")
    (3, 2, 0)
    """
    if b"\\\\" in body:  # escaped backslashes, then escaped quotes, are no quotes
        body = body.replace(b"\\\\", b"")
    if b'\\"' in body:
        body = body.replace(b'\\"', b"")
    structure = body.translate(None, _NOT_STRUCTURE)
    if not structure:
        return 0
    codes = np.frombuffer(structure, dtype=np.uint8)
    steps = ((codes == ord("[")) | (codes == ord("{"))).astype(np.int8)
    steps -= ((codes == ord("]")) | (codes == ord("}"))).astype(np.int8)
    steps[(np.cumsum(codes == ord('"'), dtype=np.int32) & 1).astype(bool)] = 0  # inside a string
    return int(max(np.cumsum(steps, dtype=np.int32).max(), 0))


def bad_string(value: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str] | None:
    """The path and the text of the first string (key or value) of a parsed JSON ``value``
    that holds a lone surrogate or a NUL; ``None`` when there is none.

    >>> bad_string({"events": [{"text": "ok"}, {"text": "x\\ud800"}]})
    (('events', 1, 'text'), 'x\\ud800')
    """
    stack: list[tuple[tuple[Any, ...], Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if _BAD_CHARS.search(item):
                return where, item
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                if _BAD_CHARS.search(key):
                    return (*where, key), key
                stack.append(((*where, key), child))
        elif isinstance(item, list):
            stack.extend(((*where, i), child) for i, child in reversed(list(enumerate(item))))
    return None


def printable(text: str, limit: int = 80) -> str:
    """``text`` with lone surrogates and control characters escaped (always encodable)."""
    out = text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in out)


def _suspect(body: bytes) -> bool:
    """Whether ``body`` may hold a lone surrogate or a NUL: a ``\\uD800``-``\\uDFFF`` or
    ``\\u0000`` escape (paired surrogates too: parsing tells), or a surrogate's raw UTF-8."""
    if b"\\u" in body:
        codes = np.frombuffer(body + b"\0\0\0\0\0", dtype=np.uint8)
        at = np.flatnonzero(codes == ord("\\"))
        at = at[codes[at + 1] == ord("u")]
        third, fourth = codes[at + 2] | 0x20, codes[at + 3] | 0x20  # lower case
        surrogate = (third == ord("d")) & (((fourth >= ord("8")) & (fourth <= ord("9")))
                                             | ((fourth >= ord("a")) & (fourth <= ord("f"))))
        nul = (codes[at + 2] == ord("0")) & (codes[at + 3] == ord("0")) & (codes[at + 4] == ord("0")) & (
            codes[at + 5] == ord("0"))
        if surrogate.any() or nul.any():
            return True
    return b"\xed" in body and _SUSPECT_RAW.search(body) is not None


def hostile_body(body: bytes) -> tuple[int, Any] | None:
    """``(status, detail)`` for a body no route should see, or ``None``."""
    if not body:
        return None
    openers = body.count(b"[") + body.count(b"{")  # at least as deep as the body can be
    if openers > MAX_JSON_DEPTH and (depth := json_depth(body)) > MAX_JSON_DEPTH:
        return 422, [{"type": "json_too_deep", "loc": ["body"], "input": None,
                      "msg": f"JSON nested deeper than {MAX_JSON_DEPTH} levels ({depth})"}]
    long_number = b"0" * (MAX_NUMBER_DIGITS + 1)
    if long_number in body.translate(_DIGITS_ONLY) and long_number in _STRING.sub(b"", body).translate(_DIGITS_ONLY):
        return 422, [{"type": "number_too_long", "loc": ["body"], "input": None,
                      "msg": f"a number of more than {MAX_NUMBER_DIGITS} digits"}]
    if _suspect(body):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: the route answers that
        found = bad_string(parsed)
        if found is not None:
            where, text = found
            loc = ["body", *(printable(step) if isinstance(step, str) else step for step in where)]
            return 422, [{"type": "string_unicode", "loc": loc, "input": printable(text),
                          "msg": "text must not hold a lone UTF-16 surrogate (\\ud800-\\udfff) or a NUL"}]
    return None


def hostile_url(path: str, query: bytes) -> list[dict[str, Any]] | None:
    """FastAPI-shaped errors for a NUL in the (decoded) path or a query value, or ``None``
    (the ASGI server and Starlette decode both with replacement characters: no surrogates)."""
    message = "text must not hold a NUL"
    if "\x00" in path:
        return [{"type": "string_unicode", "loc": ["path"], "input": printable(path), "msg": message}]
    if b"%00" in query or b"\x00" in query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                return [{"type": "string_unicode", "loc": ["query", printable(key)], "input": printable(value),
                         "msg": message}]
    return None


class HostileInput:
    """Refuse hostile request bodies and URLs (see the module docstring) before any route runs.

    Bodies other than forms and file uploads (``multipart/*``, URL-encoded forms) are read
    whole, at most ``max_body_bytes`` (413 beyond), checked, and handed on unchanged.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad_url = hostile_url(scope.get("path", ""), scope.get("query_string", b""))
        if bad_url is not None:
            await JSONResponse(status_code=422, content={"detail": bad_url})(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower().strip()
        if content_type.startswith(_UNSCANNED):
            await self.app(scope, receive, send)
            return
        too_big = JSONResponse(status_code=413, content={
            "detail": f"body is over the limit of {self.max_body_bytes} bytes"})
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_big(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await too_big(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        data = bytes(body)
        refused = hostile_body(data)
        if refused is not None:
            status, detail = refused
            await JSONResponse(status_code=status, content={"detail": detail})(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# --- response headers --------------------------------------------------------------------

_HOST_SOURCE = re.compile(r"^(?:\*\.)?[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$")


def tile_origin(tile_url: str | None) -> str | None:
    """The origin of a basemap tile template as a CSP source (``{s}.host`` as ``*.host``);
    ``None`` for none, a path of this console, or a template that is no plain URL.

    >>> tile_origin("http://{s}.tiles.center.lan:8080/{z}/{x}/{y}.png")
    'http://*.tiles.center.lan:8080'
    >>> tile_origin("/tiles/{z}/{x}/{y}.png") is None
    True
    """
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = re.sub(r"^\{[a-z]+\}\.", "*.", parts.netloc.rsplit("@", 1)[-1])
    return f"{parts.scheme}://{host}" if _HOST_SOURCE.match(host) else None


def content_security_policy(tile_url: str | None = None) -> str:
    """The console's CSP: everything from the console itself, nothing from elsewhere but the
    configured basemap's tiles; no framing. Scripts and styles may be inline (the pages' style
    attributes, the situation report's inlined Leaflet and folium code; the pages themselves
    are ES modules with no inline script or handler); images may be ``data:`` (the report's
    inlined icons), images and video ``blob:`` (evidence fetched with the bearer header: the
    token never goes into a URL)."""
    images = " ".join(filter(None, ("'self'", "data:", "blob:", tile_origin(tile_url))))
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class SecurityHeaders:
    """Add the security headers to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp, tile_url: str | None = None) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(tile_url).encode("latin-1")),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(name, value) for name, value in self.headers if name not in present]
                if extra:
                    message = dict(message, headers=[*message.get("headers", ()), *extra])
            await send(message)

        await self.app(scope, receive, send_with_headers)
