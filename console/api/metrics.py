"""``GET /metrics``: the console's Prometheus metrics (docs/metrics.md), for operations.

Not jurisdiction data: the whole console's counters, camera ids included, for whoever runs it.
``settings.metrics.token`` set: only ``Authorization: Bearer <token>`` (Prometheus'
``authorization`` / ``bearer_token``) is answered, anything else 401; ``settings.metrics.enabled``
false: 404. The text is built in a worker thread: reading the workers' counters waits for their
current analysis step, which the event loop must not.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.concurrency import run_in_threadpool

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings = request.app.state.settings.metrics
    if not settings.enabled:
        raise HTTPException(status_code=404, detail="Not Found")
    if settings.token is not None and not _bearer_matches(request, settings.token.get_secret_value()):
        raise HTTPException(status_code=401, detail="metrics need 'Authorization: Bearer <metrics token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    body = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
