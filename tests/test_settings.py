"""The one settings object: defaults, TOML file, environment, validation."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from zhizhi.console.settings import Settings


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in ("ZHIZHI_CONFIG", "ZHIZHI_DATA_DIR", "ZHIZHI_DEMO__SEED", "ZHIZHI_PORT"):
        monkeypatch.delenv(key, raising=False)
    s = Settings()
    assert s.port == 8000 and s.demo.grids == 1024 and s.demo.towns == 14 and s.demo.cameras == 120
    assert s.map.tile_url is None  # nothing from the internet unless configured
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'var' / 'zhizhi.db').resolve()}"


def test_file_then_environment(monkeypatch, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('port = 9001\ndata_dir = "/srv/zz"\n[demo]\nseed = 5\ngrids = 512\n[layers]\nmax_upload_bytes = 1000\n')
    monkeypatch.setenv("ZHIZHI_CONFIG", str(config))
    monkeypatch.setenv("ZHIZHI_DEMO__SEED", "9")
    s = Settings()
    assert s.port == 9001 and s.data_dir == Path("/srv/zz")
    assert s.demo.grids == 512 and s.demo.seed == 9  # environment beats the file
    assert s.layers.max_upload_bytes == 1000


@pytest.mark.parametrize(
    "env, fragment",
    [({"ZHIZHI_PORT": "70000"}, "port"), ({"ZHIZHI_DEMO__ADCODE": "32061"}, "adcode"), ({"ZHIZHI_DEMO__GRIDS": "0"}, "grids")],
)
def test_bad_values_name_the_field(monkeypatch, tmp_path, env, fragment):
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert fragment in str(info.value)
