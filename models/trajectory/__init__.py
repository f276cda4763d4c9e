"""Trajectory warning models: rules over hazardous-chemical vehicles' telemetry (fixes).

:class:`~models.trajectory.engine.TrajectoryEngine` runs a typed YAML model
(:mod:`models.trajectory.config`, shipped: ``hazmat-telemetry@1``) over batches of fixes;
:class:`~models.trajectory.fusion.TrackFusion` ties video warnings to registered vehicles.
"""
