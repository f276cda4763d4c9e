"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import math
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api import (
    adapt,
    alarm,
    alerts,
    auth,
    backtests,
    basemap,
    calibration,
    camera_registry,
    cameras,
    events,
    forward,
    grids,
    hazmat,
    health,
    incidents,
    jurisdictions,
    layers,
    metrics,
    models,
    ogc,
    procedures,
    recordings,
    telemetry,
    tours,
    video,
    wall,
    walls,
    ws,
)
from zhizhi.console.http_cache import RevalidatedStaticFiles, add_compression
from zhizhi.console.middleware import ClientAddress, HostileInput, SecurityHeaders, printable
from zhizhi.console.observability.metrics import ConsoleMetrics
from zhizhi.console.observability.request_id import RequestId
from zhizhi.console.runtime import Runtime
from zhizhi.console.settings import Settings, get_settings
from zhizhi.console.state import ConsoleState

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
#: Largest request body other than a form or file upload (telemetry's own limit when larger).
MAX_JSON_BODY = 16 * 1024 * 1024


def create_app(settings: Settings | None = None, state: ConsoleState | None = None) -> FastAPI:
    """Build the console app. Without ``state`` the app owns a :class:`Runtime`: started at
    start-up (off the event loop) and stopped at shutdown. A ``state`` handed in belongs to the
    caller's runtime (``zhizhi demo``/``serve``, tests), which starts and stops it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = None if state is not None else Runtime(settings)
        console = app.state.console = state if runtime is None else (await run_in_threadpool(runtime.start)).state
        if console.hub is not None:
            console.hub.bind(asyncio.get_running_loop())
        await run_in_threadpool(app.state.metrics.bind, console)  # /metrics counts from now on
        try:
            yield
        finally:
            app.state.metrics.unbind()
            if runtime is not None:
                await run_in_threadpool(runtime.stop)
            else:
                console.engine.dispose()  # the pool's connections, opened in this app's threads

    app = FastAPI(title="zhizhi 智治", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = ConsoleMetrics()  # this app's own registry (console/observability/metrics.py)
    app.add_exception_handler(RequestValidationError, validation_error)
    add_compression(app)  # innermost: text answers gzip-compressed (console/http_cache.py)
    # Outermost last: the security headers go on every answer, the guards' own refusals too.
    app.add_middleware(HostileInput, max_body_bytes=max(settings.telemetry.max_body_bytes, MAX_JSON_BODY))
    app.add_middleware(ClientAddress, trusted_proxies=settings.auth.trusted_proxies)
    app.add_middleware(SecurityHeaders, tile_url=settings.map.tile_url)
    app.add_middleware(RequestId, header=settings.logs.request_id_header)  # every answer and log line
    for error in STORAGE_DOWN:
        app.add_exception_handler(error, storage_unavailable)
    for module in (health, auth, grids, cameras, camera_registry, calibration, adapt, layers, alerts, events, video,
                   wall, walls, ws, telemetry, hazmat, incidents, backtests, models, basemap, jurisdictions, tours,
                   alarm, procedures, recordings, ogc, metrics, forward):
        app.include_router(module.router)
    app.include_router(auth.users_router)
    if not (settings.assets_dir / "leaflet" / "leaflet.js").is_file():
        log.warning(
            "front-end assets missing in %s: run scripts/install_assets.sh (make setup)",
            settings.assets_dir,
        )
    app.mount("/static/vendor", RevalidatedStaticFiles(directory=settings.assets_dir, check_dir=False), name="vendor")
    app.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "login.html")

    return app


#: Errors that mean the database cannot be reached now (a restart, a network cut), not a bug.
STORAGE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError)


async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 with ``Retry-After`` while the database is unreachable: the client may send again,
    nothing was half-written (each change is one transaction)."""
    log.error("storage unavailable during %s %s: %s", request.method, request.url.path,
              str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                        content={"detail": "storage unavailable (database unreachable); retry shortly"})


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, whatever input it echoes.

    The error echoes the input, which need not be JSON: non-finite numbers (``{"lat": NaN}``)
    are written as text, text that cannot be encoded (lone surrogates, bytes that are not
    UTF-8) escaped. Should that still fail, the 422 goes out without the echoed input: a
    refusal never becomes a 500. (Hostile bodies mostly never get here: see
    :mod:`console.middleware`.)
    """
    try:
        errors = _json_safe(jsonable_encoder(exc.errors(), custom_encoder={bytes: _bytes_text}))
        return JSONResponse(status_code=422, content={"detail": errors})
    except (ValueError, TypeError, RecursionError):
        bare = [{k: v for k, v in error.items() if k in ("type", "loc", "msg")} for error in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(bare))})


def _bytes_text(value: bytes) -> str:
    return printable(value.decode("utf-8", "backslashreplace"), limit=200)


def _json_safe(value: Any, depth: int = 0) -> Any:
    if depth > 32:
        return "..."
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return printable(value, limit=200)
        return value
    if isinstance(value, dict):
        return {_json_safe(k, depth + 1): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    return value
