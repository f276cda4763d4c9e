"""What a jurisdiction may see: the one place that decides it.

Codes nest by prefix (:mod:`gis.codes`): X is *within* Y when X starts with Y.

Layers, for a scope S and a layer owned by O:

* O within S (S is the owner or an ancestor of it): visible, shared or private. So a town's
  private layer is seen by the town itself and by its district, never by a sibling town nor by
  the town's own villages and grids.
* S within O (the owner is an ancestor of S): visible only when the layer is ``shared``.
* otherwise (another branch): not visible.

Features of a visible layer, by the feature's code F:

* F within S: returned whole.
* F a strict ancestor of S (a district road seen by a town): returned clipped to S's geometry,
  only where it intersects it in the feature's own dimension (a road that merely touches the
  town boundary is not returned); not returned at all when S has no geometry.
* anything else (a sibling's feature): never returned.

:func:`feature_clause` is the SQL pre-filter and :func:`apply_scope` the exact geometric
post-step; every read of features goes through both. :meth:`Scope.everything` is the
unrestricted internal/admin scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from zhizhi.gis.codes import active_book, chain, is_within, validate_code, within_parts
from zhizhi.layers.geometry import as_array, keep_dimension
from zhizhi.layers.models import Feature, Layer


@dataclass(frozen=True)
class Scope:
    """A jurisdiction's view: its ``code`` and its WGS-84 ``geometry`` (for clipping)."""

    code: str
    geometry: shapely.Geometry | None = None

    def __post_init__(self) -> None:
        if self.code != "":
            validate_code(self.code)
        if self.geometry is not None:
            shapely.prepare(self.geometry)

    @classmethod
    def everything(cls) -> Scope:
        """No restriction: every layer and every feature, whole (internal and admin use)."""
        return cls(code="", geometry=None)

    @property
    def is_everything(self) -> bool:
        return self.code == ""

    @property
    def ancestors(self) -> list[str]:
        """Strict ancestors of the scope's code, from the district down."""
        return [] if self.is_everything else chain(self.code)[:-1]


def within_clause(column: ColumnElement[str] | InstrumentedAttribute[str], code: str) -> ColumnElement[bool]:
    """SQL twin of :func:`~zhizhi.gis.codes.is_within` (``column`` within ``code``): ``LIKE
    'code%'``, with the codes below ``code`` that do not extend it listed beside it (or alone,
    where the prefix would also catch another branch's codes) for an imported hierarchy whose
    codes do not nest by prefix."""
    prefix, extra = within_parts(code)
    listed = column.in_(sorted(extra)) if extra else None
    if not prefix:
        return listed if listed is not None else false()
    starts = column.startswith(code, autoescape=True)
    return or_(starts, listed) if listed is not None else starts


def within_mask(codes: ArrayLike, code: str) -> NDArray[np.bool_]:
    """For each of ``codes``, whether it lies within ``code`` (vectorised :func:`is_within`)."""
    arr = np.asarray(codes, dtype=object).astype(str)
    if not len(arr):
        return np.zeros(0, dtype=bool)
    prefix, extra = within_parts(code)
    hit = np.isin(arr, list(extra)) if extra else np.zeros(len(arr), dtype=bool)
    starts = np.char.startswith(arr, code)
    book = active_book()
    if not prefix and book is not None:  # the prefix only for codes the hierarchy does not know
        starts &= ~np.isin(arr, list(book.parents))
    return hit | starts


def layer_visible(owner_code: str, visibility: str, scope: Scope) -> bool:
    """Whether ``scope`` may see a layer owned by ``owner_code`` with ``visibility``."""
    if is_within(owner_code, scope.code):
        return True
    return is_within(scope.code, owner_code) and visibility == "shared"


def layer_clause(scope: Scope) -> ColumnElement[bool]:
    """SQL condition on :class:`Layer` equal to :func:`layer_visible`."""
    if scope.is_everything:
        return true()
    own = within_clause(Layer.owner_code, scope.code)
    if not scope.ancestors:
        return own
    return or_(own, and_(Layer.owner_code.in_(scope.ancestors), Layer.visibility == "shared"))


def feature_clause(scope: Scope) -> ColumnElement[bool]:
    """SQL pre-filter on :class:`Feature`: code within the scope, or a strict ancestor of it."""
    if scope.is_everything:
        return true()
    within = within_clause(Feature.code, scope.code)
    if not scope.ancestors:
        return within
    if scope.geometry is None:  # ancestor features would be clipped to nothing
        return within
    return or_(within, Feature.code.in_(scope.ancestors))


def apply_scope(
    codes: ArrayLike, geometries: ArrayLike, scope: Scope
) -> tuple[NDArray[np.bool_], NDArray[np.object_]]:
    """The exact post-step: ``(keep, geometries)`` with ancestor-coded features clipped.

    ``keep`` marks the features the scope may see; ``geometries`` are whole for features
    within the scope and clipped to the scope's geometry for strict-ancestor ones.
    """
    geoms = as_array(geometries).copy()
    codes_a = np.asarray(codes, dtype=object).astype(str)
    if scope.is_everything:
        return np.ones(len(geoms), dtype=bool), geoms
    within = within_mask(codes_a, scope.code)
    above = np.isin(codes_a, scope.ancestors) & ~within
    keep = within.copy()
    if scope.geometry is not None and above.any():
        idx = np.flatnonzero(above)
        hit = shapely.intersects(geoms[idx], scope.geometry)
        idx = idx[hit]
        clipped = keep_dimension(
            shapely.intersection(geoms[idx], scope.geometry), shapely.get_dimensions(geoms[idx])
        )
        present = ~shapely.is_missing(clipped)
        geoms[idx[present]] = clipped[present]
        keep[idx[present]] = True
    return keep, geoms


__all__ = ["Scope", "apply_scope", "feature_clause", "layer_clause", "layer_visible", "within_clause", "within_mask"]
