"""The console's and the worker's log: plain lines on a terminal, JSON lines otherwise.

:func:`configure_logging` (``settings.logs``) puts one handler on the root logger, on standard
error: ``text`` writes ``time level logger: message`` lines (`` [request_id]`` appended inside
a request), ``json`` one object per line, ``{"time", "level", "logger", "message"}`` and
``request_id`` inside a request, ``exc_info`` with a traceback, and any ``extra`` fields given.
``auto`` (the default) is text when standard error is a terminal, JSON otherwise (a service
manager, a container, a file: what Loki or ELK read).

uvicorn's loggers (``uvicorn.error``, ``uvicorn.access``) write through the same handler: the
server is started with ``log_config=None`` (:func:`uvicorn_options`), so their records reach it,
the access line of a request with the request's id.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pythonjsonlogger.json import JsonFormatter

from zhizhi.console.observability.request_id import REQUEST_ID
from zhizhi.console.observability.settings import LogSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The name of the root handler :func:`configure_logging` installs (and replaces when called again).
CONFIGURED_HANDLER = "zhizhi"
#: The loggers uvicorn writes to; they propagate to the root handler.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (None outside a request) to every record it sees (on the handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """The plain lines of before, with `` [request_id]`` inside a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        if not request_id:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{request_id}]{newline}{rest}"


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, request_id."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)
        log_data.pop("color_message", None)  # uvicorn's copy of the message with terminal colours


def resolved_format(settings: LogSettings, stream: IO | None = None) -> Literal["text", "json"]:
    """``text`` or ``json``: ``auto`` is text on a terminal."""
    if settings.format != "auto":
        return settings.format
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


class StderrHandler(logging.StreamHandler):
    """A stream handler on whatever ``sys.stderr`` is when a record is written (not the one of
    when it was made): a command run in-process (a test's CLI runner) swaps standard error and
    closes its copy, and the log must not then write to a closed file."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: IO) -> None:
        pass  # always the current standard error


def configure_logging(settings: LogSettings, stream: IO | None = None) -> Literal["text", "json"]:
    """Write the log as ``settings`` say on ``stream`` (default: standard error, as it is at each
    record); returns the format used.

    Replaces the handler an earlier call installed (calling it again reconfigures) and a plain one
    on standard error or output, keeps any other root handler (a test runner's capture), and lets
    uvicorn's loggers propagate to it.
    """
    chosen = resolved_format(settings, stream if stream is not None else sys.stderr)
    handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter() if chosen == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler.set_name(CONFIGURED_HANDLER)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == CONFIGURED_HANDLER or _on_console(h)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return chosen


def _on_console(handler: logging.Handler) -> bool:
    """A plain handler on standard error or output (``logging.basicConfig``'s): replaced, not doubled."""
    return type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout)


def uvicorn_options(settings: LogSettings) -> dict[str, Any]:
    """``uvicorn.run`` keywords that leave its log to :func:`configure_logging`."""
    return {"log_config": None, "log_level": settings.level.lower()}
