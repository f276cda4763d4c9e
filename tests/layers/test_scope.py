"""The scoping rules on their own: layer visibility, the SQL pre-filter and the clipping step."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy.dialects import sqlite

from tests.layers_fixtures import DISTRICT, GEOMS, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, scope
from zhizhi.layers import Scope, apply_scope, feature_clause, layer_clause, layer_visible


@pytest.mark.parametrize(
    ("owner", "visibility", "viewer", "visible"),
    [
        (TOWN_A, "shared", TOWN_A, True),
        (TOWN_A, "private", TOWN_A, True),  # the owner
        (TOWN_A, "private", DISTRICT, True),  # an ancestor of the owner
        (TOWN_A, "shared", DISTRICT, True),
        (TOWN_A, "shared", VILLAGE_A1, True),  # below the owner: shared only
        (TOWN_A, "private", VILLAGE_A1, False),
        (TOWN_A, "shared", TOWN_B, False),  # a sibling: never
        (TOWN_A, "private", TOWN_B, False),
        (DISTRICT, "shared", TOWN_B, True),
        (DISTRICT, "private", TOWN_B, False),
        (VILLAGE_A1, "shared", VILLAGE_A2, False),
        ("320613", "shared", TOWN_A, False),  # another district
    ],
)
def test_layer_visibility_rules(owner, visibility, viewer, visible):
    assert layer_visible(owner, visibility, scope(viewer)) is visible
    assert layer_visible(owner, visibility, Scope.everything()) is True


def test_scope_rejects_bad_codes():
    with pytest.raises(ValueError, match="invalid jurisdiction code"):
        Scope(code="32061")
    assert Scope.everything().is_everything and Scope.everything().ancestors == []
    assert scope(VILLAGE_A1).ancestors == [DISTRICT, TOWN_A]


def _sql(clause) -> str:
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_sql_prefilters():
    text = _sql(feature_clause(scope(TOWN_A)))
    assert "layer_features.code LIKE '320612001' || '%' ESCAPE '/'" in text
    assert "layer_features.code IN ('320612')" in text
    assert "IN" not in _sql(feature_clause(Scope(code=TOWN_A)))  # no geometry: no ancestors
    assert _sql(feature_clause(Scope.everything())) == "1"
    layer_text = _sql(layer_clause(scope(VILLAGE_A1)))
    assert "layers.owner_code IN ('320612', '320612001')" in layer_text
    assert "layers.visibility = 'shared'" in layer_text


def test_apply_scope_whole_clipped_and_hidden():
    road = shapely.LineString([(120.1, 32.25), (120.9, 32.25)])  # crosses both towns
    touching = shapely.LineString([(120.5, 32.0), (120.9, 32.6)])  # only touches town A
    codes = [TOWN_A, VILLAGE_A1, TOWN_B, DISTRICT, DISTRICT, "320613", DISTRICT]
    geoms = [
        shapely.Point(120.2, 32.7),
        shapely.box(120.1, 32.1, 120.2, 32.2),
        shapely.Point(120.7, 32.7),
        road,
        touching,
        shapely.Point(120.2, 32.2),
        shapely.box(120.4, 32.4, 120.6, 32.6),
    ]
    keep, out = apply_scope(codes, geoms, scope(TOWN_A))
    assert keep.tolist() == [True, True, False, True, False, False, True]
    assert out[0] is geoms[0] and out[1] is geoms[1]
    assert out[3].equals(shapely.LineString([(120.1, 32.25), (120.5, 32.25)]))
    assert out[6].equals(shapely.box(120.4, 32.4, 120.5, 32.6))
    keep_b, out_b = apply_scope(codes, geoms, scope(TOWN_B))
    assert keep_b.tolist() == [False, False, True, True, True, False, True]
    assert out_b[4].equals(touching)  # wholly inside B's closed box
    keep_all, out_all = apply_scope(codes, geoms, Scope.everything())
    assert keep_all.all() and all(a is b for a, b in zip(out_all, geoms))


def test_apply_scope_without_geometry_hides_ancestor_features():
    keep, _ = apply_scope(
        [DISTRICT, TOWN_A], [GEOMS[DISTRICT], shapely.Point(120.1, 32.1)], Scope(code=TOWN_A)
    )
    assert keep.tolist() == [False, True]


def test_apply_scope_empty_input():
    keep, out = apply_scope([], np.array([], dtype=object), scope(TOWN_A))
    assert keep.shape == (0,) and out.shape == (0,)


def test_within_clause_and_mask_follow_an_imported_hierarchy(tmp_path):
    """SQL and numpy agree with is_within for every pair of an irregular county's codes."""
    import sqlalchemy as sa

    from tests.gis.test_codes import LEVELS, PARENTS
    from zhizhi.gis.codes import CodeBook, install_book, is_within
    from zhizhi.layers.scope import within_clause, within_mask

    install_book(CodeBook(PARENTS, LEVELS))
    try:
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'codes.db'}")
        table = sa.Table("codes", sa.MetaData(), sa.Column("code", sa.String(40)))
        table.metadata.create_all(engine)
        codes = [*PARENTS, "UNKNOWN-1"]
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"code": c} for c in codes])
            for unit in PARENTS:
                expected = {c for c in codes if is_within(c, unit)}
                found = set(conn.execute(sa.select(table.c.code).where(within_clause(table.c.code, unit))).scalars())
                assert found == expected, unit
                assert set(np.asarray(codes)[within_mask(codes, unit)]) == expected, unit
    finally:
        install_book(None)
