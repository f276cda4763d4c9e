"""What the model store refuses."""

from __future__ import annotations


class ModelVersionError(ValueError):
    """A change to the model store that cannot be made (the message says why)."""


class UnknownModel(ModelVersionError, LookupError):
    """No such kind, model or version."""


class ModelConflict(ModelVersionError):
    """The change contradicts what is stored (a different text under the same version, a
    promotion of the version already in production, nothing to roll back to)."""
