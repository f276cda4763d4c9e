"""The demo console's users: ``district`` (a duty officer of the whole district) and
``town-<towncode>`` (the operator of each town).

Their password is ``ZHIZHI_DEMO_PASSWORD`` (``settings.demo_password``) when set — and then
set again on every start, so changing the variable changes the password; it must pass the
password policy (:meth:`~console.auth.passwords.Passwords.check`). Without it, a
password is generated when the users are first created and reported once; later starts leave
the users as they are (``zhizhi users passwd`` changes a password).
"""

from __future__ import annotations

import logging
import secrets

from pydantic import BaseModel

from zhizhi.console.auth.passwords import WeakPassword
from zhizhi.console.auth.roles import Role
from zhizhi.console.auth.service import AuthService

log = logging.getLogger(__name__)

DISTRICT_USER = "district"


class DemoUsers(BaseModel):
    """What :func:`ensure_demo_users` did."""

    names: list[str]
    created: list[str]
    password_updated: list[str]
    generated_password: str | None = None  # shown once, when it was generated


def demo_user_names(auth: AuthService) -> dict[str, tuple[Role, str]]:
    """Every demo user's name with its role and jurisdiction code."""
    j = auth.jurisdictions
    users = {DISTRICT_USER: (Role.DUTY_OFFICER, j.district_code)}
    for town in j.children(j.district_code):
        users[f"town-{town.code}"] = (Role.TOWN_OPERATOR, town.code)
    return users


def ensure_demo_users(auth: AuthService, password: str | None) -> DemoUsers:
    """Create the missing demo users; with ``password``, (re)set every demo user's password.

    Idempotent: a user that exists is never duplicated, and its password is only rewritten
    when ``password`` is given and differs from the stored one.
    """
    wanted = demo_user_names(auth)
    missing = [name for name in wanted if auth.store.get_user(name) is None]
    generated = None
    if password is None and missing:
        generated = password = secrets.token_urlsafe(12)
    if password is not None and not password.strip():
        raise ValueError("ZHIZHI_DEMO_PASSWORD is empty")
    if password is not None and generated is None:
        try:
            auth.passwords.check(password, DISTRICT_USER)
        except WeakPassword as exc:
            raise ValueError(f"ZHIZHI_DEMO_PASSWORD is refused: {exc}") from None
    created, updated = [], []
    for name, (role, code) in wanted.items():
        row = auth.store.get_user(name)
        if row is None:
            auth.store.add_user(name, auth.passwords.hash(password), role.value, code, auth.clock())
            created.append(name)
        elif password is not None and not auth.passwords.verify(row.password_hash, password):
            auth.set_password(name, password, check=False)
            updated.append(name)
    if created or updated:
        log.info("demo users: %d created, %d passwords updated", len(created), len(updated))
    return DemoUsers(
        names=list(wanted), created=created, password_updated=updated, generated_password=generated
    )
