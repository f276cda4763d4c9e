"""Warning-model configurations: the shipped one loads; bad ones are refused with path and reason."""

from __future__ import annotations

import copy

import pytest
import yaml

from zhizhi.models.warning.config import SHIPPED_MODEL, ModelConfigError, load_model, parse_model

GOOD = {
    "name": "t",
    "version": 2,
    "rules": [
        {"id": "stop", "kind": "abnormal_stop", "classes": ["hazmat_tanker"], "min_duration_s": 20},
        {"id": "night", "kind": "prohibited_hours", "classes": ["truck"], "hours": {"windows": ["22:00-06:00"]}},
    ],
}


def test_the_shipped_model_loads():
    model = load_model()
    assert model.label == "default@1"
    kinds = {r.kind for r in model.rules}
    assert kinds == {"abnormal_stop", "zone_entry", "speeding", "wrong_way", "crowd"}
    assert load_model(SHIPPED_MODEL) == model


def test_a_good_config_parses_with_defaults():
    model = parse_model(GOOD)
    stop = model.rules[0]
    assert stop.max_speed_kmh == 3.0 and stop.severity == "orange" and stop.allowed.empty
    assert model.rules[1].hours.contains(23 * 60) and not model.rules[1].hours.contains(12 * 60)


def _broken(path: list, value):
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    "path, value, where, reason",
    [
        (["rules", 0, "min_duration_s"], -5, "rules.0.abnormal_stop.min_duration_s", "greater than 0"),
        (["rules", 0, "classes"], ["tank"], "rules.0.abnormal_stop.classes", "unknown classes ['tank']"),
        (["rules", 0, "kind"], "teleport", "rules.0", "does not match any of the expected tags"),
        (["rules", 0, "colour"], "red", "rules.0.abnormal_stop.colour", "Extra inputs are not permitted"),
        (["rules", 1, "hours"], {"windows": ["25:00-06:00"]}, "rules.1.prohibited_hours.hours.windows",
         "is not HH:MM-HH:MM"),
        (["rules", 1, "hours"], _DELETE, "rules.1.prohibited_hours.hours", "Field required"),
        (["rules", 0, "severity"], "purple", "rules.0.abnormal_stop.severity", "Input should be"),
        (["rules", 0, "allowed"], {"polygon": [[121, 32], [121.01, 32.01], [121.01, 32], [121, 32.01]]},
         "rules.0.abnormal_stop.allowed.polygon", "self-intersecting"),
        (["rules", 0, "allowed"], {"polygon": [[351000, 3543000], [351100, 3543000], [351100, 3543100]]},
         "rules.0.abnormal_stop.allowed.polygon", "is not a WGS-84 lon/lat"),
        (["rules", 0, "upgrades"], [{"severity": "blue", "near": {"kinds": ["school"]}}],
         "rules.0.abnormal_stop", "does not raise orange"),
        (["rules", 1, "id"], "stop", "", "duplicate rule ids ['stop']"),
        (["version"], 0, "version", "greater than or equal to 1"),
        (["rules"], [], "rules", "at least 1 item"),
        (["name"], _DELETE, "name", "Field required"),
    ],
)
def test_bad_configs_name_path_and_reason(path, value, where, reason):
    with pytest.raises(ModelConfigError) as info:
        parse_model(_broken(path, value), "bad.yaml")
    pairs = info.value.errors
    assert any(p == where and reason in r for p, r in pairs), pairs
    assert "bad.yaml" in str(info.value) and reason in str(info.value)


def test_zone_entry_needs_a_zone():
    data = {"name": "t", "version": 1, "rules": [{"id": "z", "kind": "zone_entry", "classes": ["car"], "zones": {}}]}
    with pytest.raises(ModelConfigError, match="name at least one zone kind"):
        parse_model(data)


def test_every_error_is_reported_at_once():
    data = _broken(["rules", 0, "min_duration_s"], 0)
    data["rules"][1]["classes"] = []
    with pytest.raises(ModelConfigError) as info:
        parse_model(data)
    paths = [p for p, _ in info.value.errors]
    assert "rules.0.abnormal_stop.min_duration_s" in paths and "rules.1.prohibited_hours.classes" in paths


def test_unreadable_files(tmp_path):
    with pytest.raises(ModelConfigError, match="file not found"):
        load_model(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ModelConfigError, match="not valid YAML"):
        load_model(bad)
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ModelConfigError, match="expected a mapping"):
        load_model(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD), encoding="utf-8")
    assert load_model(good).label == "t@2"
