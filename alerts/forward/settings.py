"""Settings of alert forwarding (``settings.forward``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ForwardSettings(BaseModel):
    """Alerts forwarded to other systems (webhooks, CAP 1.2)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
