"""Alert ids (incidents take the same form): short, random, safe in paths and URLs.

The lowest layer that stores records holds the form, so that every part naming an alert's
files or rows (video's evidence store, the alert and incident stores) checks it one way.

>>> len(new_alert_id()), is_alert_id(new_alert_id()), is_alert_id("../etc")
(12, True, False)
"""

from __future__ import annotations

import re
import secrets

ALERT_ID = re.compile(r"^[a-z0-9]{12}$")
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read out over the radio


def new_alert_id() -> str:
    """A short random id, e.g. ``k3v9q2m7xa1b`` (12 characters, about 60 bits)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def is_alert_id(value: object) -> bool:
    """Whether ``value`` has the form of an alert id (safe in paths and URLs)."""
    return isinstance(value, str) and bool(ALERT_ID.match(value))
