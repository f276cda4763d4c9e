"""The records of authentication: who a request acts as, a user as listed, a login's answer."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from zhizhi.console.auth.roles import Permission, Role, can

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"


class Principal(BaseModel):
    """Who an authenticated request or websocket acts as.

    ``code`` is the user's jurisdiction code (the district's code for district users); every
    read and write of the request is scoped to it.
    """

    model_config = ConfigDict(frozen=True)

    username: str
    role: Role
    code: str

    def can(self, permission: Permission | str) -> bool:
        """Whether the principal's role has ``permission``."""
        return can(self.role, permission)


class UserInfo(BaseModel):
    """A user as the API and the CLI show it (never the password hash)."""

    name: str
    role: Role
    jurisdiction: str
    created_at: datetime | None = None


class LoginResult(BaseModel):
    """The answer of a successful login."""

    token: str = Field(description="Send as 'Authorization: Bearer TOKEN' (never in a URL: POST /api/auth/ticket).")
    token_type: str = "bearer"
    expires_at: datetime
    user: UserInfo


def to_datetime(ts: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)
