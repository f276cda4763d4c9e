"""Settings of the OGC API - Features endpoint (``settings.ogc``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OgcSettings(BaseModel):
    """OGC API - Features at ``/ogc``: the layers for GIS clients (QGIS, GDAL's OAPIF driver)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    enabled: bool = Field(True, description="Serve the layers as OGC API - Features at /ogc.")
    default_limit: int = Field(100, ge=1, le=10_000, description="Features in one page when the client names no limit.")
    max_limit: int = Field(10_000, ge=1, le=100_000, description="Most features in one page, whatever the client asks.")
    page_cache_s: float = Field(
        30.0, ge=0, le=600,
        description="Seconds the features a caller sees of a layer are held for its next pages (a replaced "
                    "layer is read afresh). 0: read the layer for every page.",
    )
    basic_cache_s: float = Field(
        300.0, ge=0, le=3600,
        description="Seconds a verified HTTP Basic user:password is remembered (argon2 is slow and GIS clients "
                    "send the pair on every request); a password change ends it at once. 0: verify every request.",
    )
