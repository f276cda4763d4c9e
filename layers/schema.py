"""The one table registry of every store, and the modules that fill it.

Each store defines its tables on :data:`metadata` (``Table("alerts", metadata, ...)``; the layer
ORM's declarative ``Base`` uses it too), in its own part: the stores import this module, never
the other way round, so the lowest layer that knows databases imports no part above it.

What the migrations must produce is :func:`schema_metadata`: the registry once every module of
:data:`STORE_MODULES` is imported. The list holds module *names*, resolved when the whole
schema is wanted (the migration environment ``layers/migrations/env.py``, Alembic's
autogenerate, the schema comparison of ``tests/layers/test_storage_backends.py``), the way the
migrations themselves name every store's tables. A store whose module is missing here shows up
as a difference between the migrated database and :func:`schema_metadata` in that test.

>>> sorted(schema_metadata().tables)[:3]
['alert_actions', 'alert_keys', 'alert_labels']
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

#: Every store's tables (one namespace of table and index names).
metadata = MetaData()

#: The modules that define tables on :data:`metadata`, by part from the lowest layer up.
STORE_MODULES: tuple[str, ...] = (
    "zhizhi.layers.models",
    "zhizhi.layers.hazmat",
    "zhizhi.layers.camera_registry",
    "zhizhi.layers.camera_calibrations",
    "zhizhi.models.versions.store",
    "zhizhi.alerts.store",
    "zhizhi.alerts.labels",
    "zhizhi.alerts.incidents.store",
    "zhizhi.alerts.procedures",
    "zhizhi.alerts.forward.store",
    "zhizhi.console.auth.store",
    "zhizhi.console.walls.tables",
    "zhizhi.console.tours",
    "zhizhi.console.wall_tiles",
)


def schema_metadata() -> MetaData:
    """:data:`metadata` with every store's tables in it (imports :data:`STORE_MODULES`)."""
    for name in STORE_MODULES:
        importlib.import_module(name)
    return metadata
