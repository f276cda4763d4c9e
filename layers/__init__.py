"""layers: layer registry, import/export and jurisdiction scoping."""

from zhizhi.layers.db import create_schema, make_engine
from zhizhi.layers.errors import CODES, LayerError
from zhizhi.layers.io import (
    EXPORT_FORMATS,
    ImportLimits,
    ImportResult,
    export_layer,
    read_layer_file,
)
from zhizhi.layers.registry import LayerInfo, LayerRegistry
from zhizhi.layers.scope import Scope, apply_scope, feature_clause, layer_clause, layer_visible
from zhizhi.layers.validate import precheck_geojson, validate_geometries

__all__ = [
    "CODES",
    "EXPORT_FORMATS",
    "ImportLimits",
    "ImportResult",
    "LayerError",
    "LayerInfo",
    "LayerRegistry",
    "Scope",
    "apply_scope",
    "create_schema",
    "export_layer",
    "feature_clause",
    "layer_clause",
    "layer_visible",
    "make_engine",
    "precheck_geojson",
    "read_layer_file",
    "validate_geometries",
]
