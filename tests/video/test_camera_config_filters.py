"""Object filters in a camera-config file (a worker's YAML, ``zhizhi analyze --camera-config``):
read as :class:`video.object_filters.ObjectFilters`, and a bad one refused at load time naming the
file, the camera, the class and the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zhizhi.video.camera_config import CameraConfigError, load_camera_configs
from zhizhi.video.object_filters import ObjectFilters

ZHIZHI = str(Path(sys.executable).parent / "zhizhi")

WORKER_YAML = """\
cameras:
  - id: GATE-1
    source: {url: /srv/clips/gate.mp4}
    filters:
      classes:
        person: {min_score: 0.5, max_area: 20000, masks: [[[0, 0], [100, 0], [100, 60]]]}
        hazmat_tanker: {threshold: 0.7, min_size_m: 2.0, max_size_m: 3.2}
        "*": {min_area: 150}
  - id: GATE-2
    source: {url: /srv/clips/gate2.mp4}
"""


def test_a_workers_yaml_takes_filters_per_class(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text(WORKER_YAML, encoding="utf-8")
    gate, plain = load_camera_configs(path)
    assert isinstance(gate.filters, ObjectFilters) and not plain.filters
    assert gate.filters.for_class("person").masks == [[(0, 0), (100, 0), (100, 60)]]
    assert gate.filters.threshold("hazmat_tanker") == 0.7
    assert gate.filters.for_class("bus").min_area == 150  # "*": every class without its own
    assert gate.filters.keep(["bus", "person"], [0.9, 0.4], [[0, 0, 10, 10], [200, 200, 240, 300]]).tolist() == [
        False, False]


@pytest.mark.parametrize(("filters", "says"), [
    ({"classes": {"tanker": {"min_score": 0.5}}}, "unknown class 'tanker'"),
    ({"classes": {"car": {"min_area": 900, "max_area": 100}}}, "min_area (900.0) is larger than max_area (100.0)"),
    ({"classes": {"car": {"min_ratio": -1}}}, "filters.classes.car.min_ratio"),
    ({"classes": {"bus": {"masks": [[[0, 0], [100, 100], [100, 0], [0, 40]]]}}}, "mask 0 is not a simple polygon"),
])
def test_bad_filters_in_a_file_are_refused_naming_camera_class_and_field(tmp_path, filters, says):
    path = tmp_path / "camera.json"
    path.write_text(json.dumps({"id": "C1", "source": {"url": "clip.mp4"}, "filters": filters}), encoding="utf-8")
    with pytest.raises(CameraConfigError) as refused:
        load_camera_configs(path)
    message = str(refused.value)
    assert str(path) in message and "camera 0" in message and says in message
    assert "filters" in message


def test_analyze_refuses_a_camera_config_with_an_unknown_class(tmp_path):
    path = tmp_path / "camera.json"
    path.write_text(json.dumps({"id": "C1", "source": {"url": "clip.mp4"},
                                "filters": {"classes": {"lorry": {"min_score": 0.5}}}}), encoding="utf-8")
    env = {**os.environ, "ZHIZHI_DATA_DIR": str(tmp_path)}
    result = subprocess.run([ZHIZHI, "analyze", str(tmp_path / "clip.mp4"), "--camera-config", str(path)],
                            capture_output=True, text=True, env=env, timeout=120, check=False,
                            stdin=subprocess.DEVNULL)
    assert result.returncode != 0 and not result.stdout
    assert "unknown class 'lorry'" in result.stderr and "camera 0" in result.stderr
