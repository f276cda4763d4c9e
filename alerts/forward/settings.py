"""Settings of alert forwarding (``settings.forward``): webhook targets, retries, CAP 1.2.

In ``zhizhi.toml``::

    [[forward.webhooks]]
    name = "town-a-emergency"
    url = "https://emergency.town-a.example/hooks/zhizhi"
    secret = "a long random string shared with the receiver"
    severities = ["red", "orange"]
    jurisdiction = "320612001"     # only alerts in that town
    format = "cap"

    [forward.retry]
    attempts = 5

See docs/forwarding.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from zhizhi.gis.codes import validate_code
from zhizhi.models.warning.record import Severity

#: What a target may subscribe to: the bus's alert events (:class:`~zhizhi.bus.messages.AlertEvent`)
#: and ``closed``, a transition to resolved or closed.
ForwardEvent = Literal[
    "new", "updated", "transition", "closed", "escalated", "handed_down", "reminder", "supervision"
]
#: The default events: all but ``updated`` (every repeated sighting updates an alert, many times a
#: minute) and ``reminder`` (an internal nudge of the assignee).
DEFAULT_EVENTS: tuple[ForwardEvent, ...] = ("new", "transition", "escalated", "handed_down", "supervision")
#: CAP's reserved characters of ``identifier`` and ``sender`` (spaces, commas, ``<``, ``&``).
CAP_TOKEN = r"^[^\s,<&]+$"
#: Shortest webhook secret.
MIN_SECRET = 16


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class WebhookTarget(_Section):
    """One receiving system: where alerts go, signed with its secret, and which of them."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Short unique name (logs, API).")
    url: AnyHttpUrl = Field(description="http(s) URL the alerts are POSTed to.")
    secret: SecretStr = Field(description="HMAC-SHA256 key shared with the receiver (16 characters or more).")
    rules: list[str] = Field(default_factory=list, description="Rule kinds or categories; empty: all.")
    severities: list[Severity] = Field(default_factory=list, description="Severities; empty: all.")
    events: list[ForwardEvent] = Field(default_factory=lambda: list(DEFAULT_EVENTS),
                                       description="Alert events sent; empty: all.")
    format: Literal["json", "cap"] = Field("json", description="JSON alert message, or CAP 1.2 XML.")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Connect and read timeout of one attempt.")
    jurisdiction: str | None = Field(None, description="Only alerts located in this unit's area.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if value.scheme not in ("http", "https"):
            raise ValueError("a webhook URL is http:// or https://")
        return value

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(f"the secret must be at least {MIN_SECRET} characters")
        return value

    @field_validator("jurisdiction")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None else validate_code(value)


class RetryPolicy(_Section):
    """How often and how patiently a failing delivery is tried again."""

    attempts: int = Field(5, ge=1, le=20, description="Attempts per delivery, the first included.")
    backoff_s: float = Field(1.0, ge=0, le=600, description="Wait before the 2nd attempt; doubled after each.")
    max_backoff_s: float = Field(60.0, ge=0, le=3600, description="Longest wait between attempts.")
    jitter: float = Field(0.5, ge=0, le=1, description="Each wait is shortened by up to this fraction at random.")


class CapSettings(_Section):
    """How alerts read as CAP 1.2 messages."""

    sender: str = Field("zhizhi@console", pattern=CAP_TOKEN, max_length=200,
                        description="CAP sender: the unit's unique address (no spaces or commas).")
    sender_name: str | None = Field(None, max_length=200, description="CAP senderName, e.g. the command center's name.")
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] | None = Field(
        None, description="CAP status; default: Exercise on the synthetic demo district, Actual otherwise.")
    scope: Literal["Public", "Restricted"] = Field("Restricted", description="CAP scope.")
    restriction: str = Field("仅限应急管理与公安交通部门", min_length=1, max_length=200,
                             description="CAP restriction text (scope Restricted).")
    circle_km: float = Field(0.2, gt=0, le=50, description="Radius of the circle around the alert's point.")


class ForwardSettings(BaseModel):
    """Alerts forwarded to other systems (webhooks, CAP 1.2)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    webhooks: list[WebhookTarget] = Field(default_factory=list, description="Receiving systems.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description=RetryPolicy.__doc__)
    queue_size: int = Field(1000, ge=1, le=100_000,
                            description="Deliveries waiting per target; more are dead-lettered at once.")
    cap: CapSettings = Field(default_factory=CapSettings, description=CapSettings.__doc__)

    @model_validator(mode="after")
    def _unique_names(self) -> ForwardSettings:
        names = [t.name for t in self.webhooks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"webhook names must be unique: {', '.join(twice)}")
        return self

    def target(self, name: str) -> WebhookTarget | None:
        """The target called ``name``, if configured."""
        return next((t for t in self.webhooks if t.name == name), None)
