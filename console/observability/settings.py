"""Settings of metrics and logs (``settings.metrics``, ``settings.logs``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MetricsSettings(BaseModel):
    """Prometheus metrics at ``/metrics`` (names start with ``zhizhi_``)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    enabled: bool = Field(True, description="Serve /metrics in the Prometheus text format.")
    token: SecretStr | None = Field(
        None, description="When set, /metrics answers only 'Authorization: Bearer TOKEN' (Prometheus' "
        "bearer_token); unset: open, as a loopback or closed network usually is."
    )
    worker_port: int | None = Field(
        None, ge=1, le=65535, description="A 'zhizhi worker' serves its own /metrics on this port (its cameras, "
        "frames, detector latency and bus; the same token); unset: none."
    )
    worker_host: str = Field("127.0.0.1", description="Address a worker's /metrics listens on (0.0.0.0: every "
                             "interface, for a Prometheus on another machine).")


class LogSettings(BaseModel):
    """How the console writes its log."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    format: Literal["auto", "text", "json"] = Field(
        "auto", description="text: plain lines; json: one JSON object a line (for Loki, ELK); "
        "auto: text on a terminal, json otherwise."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level written.")
    request_id_header: str = Field(
        "X-Request-ID", pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="Header a request id is read from (a proxy's) or, absent, sent back in; every log line "
        "of the request carries it."
    )
