"""The FastAPI application factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from console.api import cameras, grids, health, layers
from console.settings import Settings, get_settings
from console.state import ConsoleState, open_console

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, state: ConsoleState | None = None) -> FastAPI:
    """Build the console app; storage and indexes open at start-up (off the event loop)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.console = state or await run_in_threadpool(open_console, settings)
        yield
        app.state.console.engine.dispose()

    app = FastAPI(title="zhizhi 智治", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    for module in (health, grids, cameras, layers):
        app.include_router(module.router)
    if not (settings.assets_dir / "leaflet" / "leaflet.js").is_file():
        log.warning(
            "front-end assets missing in %s: run scripts/install_assets.sh (make setup)",
            settings.assets_dir,
        )
    app.mount("/static/vendor", StaticFiles(directory=settings.assets_dir, check_dir=False), name="vendor")
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    return app
