"""What the incident store and service refuse."""

from __future__ import annotations


class StaleIncident(RuntimeError):
    """The incident changed since it was read (or is gone); read it again and retry."""


class DuplicateLink(RuntimeError):
    """The alert is linked to the incident already."""



class IncidentError(Exception):
    """Base of the service's refusals."""


class IncidentNotFound(IncidentError, LookupError):
    """No such incident — or one the caller's jurisdiction may not see (indistinguishable)."""


class IncidentConflict(IncidentError):
    """The incident's state forbids the request (closed already, changed concurrently)."""


class NotOwner(IncidentError, PermissionError):
    """The caller sees the incident but is neither its owner nor above it (close, refresh)."""


class InvalidIncident(IncidentError, ValueError):
    """A request the service cannot accept (bad unit, empty note, unusable computed area)."""
