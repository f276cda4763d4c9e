"""layers: layer registry, import/export and jurisdiction scoping."""
