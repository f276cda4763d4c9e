"""What a verdict's label keeps of the console's running state: the rule's parameters and the
camera's configuration at the moment an officer closed the alert (:mod:`alerts.labels`); and the
evidence purge that keeps the labelled alerts' observed tracks (the false-alarm dataset's
replays) for ``alerts.label_track_days``, past the evidence's own retention."""

from __future__ import annotations

import logging
from typing import Any

from zhizhi.alerts.labels import LabelStore
from zhizhi.alerts.record import Alert
from zhizhi.alerts.service import Describe
from zhizhi.video.registry_feed import camera_config as registry_camera
from zhizhi.video.registry_feed import newest_calibrations

log = logging.getLogger(__name__)


def rule_params(state: Any, alert: Alert) -> dict[str, Any]:
    """The running rule instance ``alert.rule_id`` as its model file states it ({} if none runs)."""
    models = []
    if state.warnings is not None:
        models.append(state.warnings.engine.model)
    if state.trajectory is not None:
        models.append(state.trajectory.engine.config)
    for model in models:
        for rule in model.rules:
            if rule.id == alert.rule_id:
                return rule.model_dump(mode="json") | {"model": model.label}
    return {}


def camera_config(state: Any, camera_id: str | None) -> dict[str, Any] | None:
    """The camera's configuration as ``zhizhi analyze`` takes it: the worker's running one,
    else the registry's (with its newest calibration); ``None`` for an unknown camera."""
    if camera_id is None:
        return None
    workers = [*state.workers, *([state.camera_feed.worker] if state.camera_feed is not None else [])]
    for worker in workers:
        config = worker.config_of(camera_id) if worker is not None else None
        if config is not None:
            return config.model_dump(mode="json")
    record = state.camera_registry.get(camera_id)
    if record is None:
        return None
    return registry_camera(record, newest_calibrations(state.engine).get(camera_id)).model_dump(mode="json")


def describe_alerts(state: Any) -> Describe:
    """The alert service's ``describe``: never fails a closing (a problem is logged, the label
    keeps what was found)."""

    def describe(alert: Alert) -> tuple[dict[str, Any], dict[str, Any] | None]:
        try:
            params = rule_params(state, alert)
        except Exception:  # pragma: no cover - defensive: a label must not block a closing
            log.exception("label of alert %s: the rule's parameters could not be read", alert.id)
            params = {}
        try:
            camera = camera_config(state, alert.camera_id)
        except Exception:  # pragma: no cover - as above
            log.exception("label of alert %s: camera %s could not be read", alert.id, alert.camera_id)
            camera = None
        return params, camera

    return describe


def purge_evidence(state: Any, now: float) -> list[str]:
    """Old evidence removed, except the tracks of alerts given a verdict within
    ``alerts.label_track_days`` (small files a backtest of the labels replays)."""
    since = now - state.settings.alerts.label_track_days * 86400
    keep: set[str] = set()
    for label in LabelStore(state.engine, migrated=True).list(since=since, limit=1_000_000):
        keep.add(state.evidence.relative(state.evidence.path_of(label.alert_id, "track")))
        keep.update(view["track"] for view in label.evidence.get("views") or [] if view.get("track"))
    return state.evidence.purge(now, keep=keep)


__all__ = ["camera_config", "describe_alerts", "purge_evidence", "rule_params"]
