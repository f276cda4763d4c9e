"""Why a stream that FFmpeg could not open failed, as far as its server says.

:class:`video.sources.StreamSource` asks this once the server answers on its port but FFmpeg
gave no video: one RTSP ``DESCRIBE`` (with Basic credentials from the URL, if any) or one HTTP
``GET`` turns "no video" into "no stream at this path (RTSP 404 Not Found)", "wrong user or
password? (RTSP 401 Unauthorized)" or "not a video stream (content type text/html)". The
reason never holds the URL's password.

>>> explain_rtsp(404, "Not Found", has_credentials=True)
'no stream at this path (RTSP 404 Not Found)'
>>> explain_rtsp(401, "Unauthorized", has_credentials=False)
'the camera wants a user and password (RTSP 401 Unauthorized)'
"""

from __future__ import annotations

import base64
import re
import socket
from urllib.parse import unquote, urlsplit

_STATUS = re.compile(rb"^RTSP/\d\.\d\s+(\d{3})\s*([^\r\n]*)")
UNDECODABLE = "the server serves the stream, but FFmpeg cannot decode it (unsupported codec or corrupt?)"


def explain_rtsp(code: int, phrase: str, *, has_credentials: bool) -> str:
    """A reason for an RTSP server's answer to ``DESCRIBE``."""
    status = f"RTSP {code} {phrase}".rstrip()
    if code == 200:
        return UNDECODABLE
    if code == 404:
        return f"no stream at this path ({status})"
    if code == 401:
        if has_credentials:
            return f"wrong user or password? ({status})"
        return f"the camera wants a user and password ({status})"
    if code == 403:
        return f"this user may not see the stream ({status})"
    return f"the server refused the stream ({status})"


def _credentials(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def rtsp_reason(url: str, timeout_s: float) -> str:
    """Send ``DESCRIBE`` for ``url`` and explain the answer."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "rtsps":
        return "server answers, but FFmpeg cannot open the RTSPS stream (TLS or certificate?)"
    port = parts.port or 554
    target = f"rtsp://{parts.hostname}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    credentials = _credentials(url)
    head = f"DESCRIBE {target} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\nUser-Agent: zhizhi-probe\r\n"
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        head += f"Authorization: Basic {token}\r\n"
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s) as sock:
            sock.sendall((head + "\r\n").encode("utf-8"))
            answer = sock.recv(1024)
    except TimeoutError:
        return f"the server accepts connections but does not answer within {timeout_s:g} s (hung?)"
    except OSError as exc:
        return f"server answers, but not to RTSP ({exc.strerror or type(exc).__name__})"
    status = _STATUS.match(answer)
    if status is None:
        return "not an RTSP server (no RTSP answer to DESCRIBE)"
    phrase = status.group(2).decode("latin-1").strip()
    return explain_rtsp(int(status.group(1)), phrase, has_credentials=credentials is not None)


def http_reason(url: str, timeout_s: float) -> str:
    """``GET`` ``url`` (headers only) and explain the answer."""
    import httpx

    try:
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            code, phrase = response.status_code, response.reason_phrase
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    except httpx.TimeoutException:
        return f"the server accepts connections but does not answer within {timeout_s:g} s (hung?)"
    except httpx.HTTPError as exc:
        return f"server answers, but not to HTTP ({type(exc).__name__})"
    if code != 200:
        return f"HTTP {code} {phrase}"
    if ctype.startswith(("text/html", "text/plain", "application/json", "application/xml", "image/")):
        return f"not a video stream (content type {ctype})"
    return UNDECODABLE


def server_reason(url: str, timeout_s: float) -> str:
    """Why the server at ``url`` (which accepts connections) gave FFmpeg no video."""
    scheme = urlsplit(url).scheme.lower()
    if scheme.startswith("rtsp"):
        return rtsp_reason(url, timeout_s)
    if scheme in ("http", "https"):
        return http_reason(url, timeout_s)
    return "server answers, but FFmpeg cannot open the stream"
