"""No credential in the logs: the values of ``token`` and ``ticket`` query parameters become ``***``.

uvicorn writes every request's path with its query string: HTTP requests to the access log
(logger ``uvicorn.access``), websocket handshakes to ``uvicorn.error``. A credential in a URL
(the tickets of ``/ws`` and the camera video, or a ``?token=`` a client still sends though it is
refused) would be written in full. :func:`install` puts :class:`RedactCredentials` on both
loggers; the console installs it when it starts serving (``zhizhi demo``/``serve`` and the
lifespan of every app ``create_app`` builds, whoever runs it).

>>> redact('127.0.0.1:5 - "GET /ws?wall=main&ticket=abc123&last_seq=7 HTTP/1.1" 101')
'127.0.0.1:5 - "GET /ws?wall=main&ticket=***&last_seq=7 HTTP/1.1" 101'
>>> redact("/api/cameras/C1/frame.jpg?TOKEN=abc&t=1 /x?tick%65t=abc")
'/api/cameras/C1/frame.jpg?TOKEN=***&t=1 /x?tick%65t=***'
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

#: Query parameters whose values are credentials (compared after percent-decoding, any case).
SECRET_PARAMETERS = frozenset({"token", "ticket"})
#: The loggers uvicorn writes request URLs to.
LOGGERS = ("uvicorn.access", "uvicorn.error")
_PARAMETER = re.compile(r"(?P<head>[?&;](?P<name>[^=&;?#\s\"']+)=)(?P<value>[^&;#\s\"']*)")


def redact(text: str) -> str:
    """``text`` with the value of every credential query parameter replaced by ``***``."""
    if "=" not in text:
        return text

    def hide(match: re.Match) -> str:
        if unquote_plus(match["name"]).strip().lower() in SECRET_PARAMETERS and match["value"]:
            return match["head"] + "***"
        return match[0]

    return _PARAMETER.sub(hide, text)


class RedactCredentials(logging.Filter):
    """Rewrites a record's message and arguments with :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install() -> None:
    """Put :class:`RedactCredentials` on uvicorn's loggers (once; logging set-up that replaces
    their handlers keeps it, as it sits on the loggers themselves)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
