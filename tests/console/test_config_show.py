"""``zhizhi config show``: every setting with its value, source and description, secrets masked."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zhizhi.console.cli import app
from zhizhi.console.config_show import config_report, mask_url

SECRETS = ("hunter2", "s3cret-demo", "redis-pw", "tile-token", "mqtt-pw")


@pytest.fixture
def configured(monkeypatch, tmp_path):
    """A settings file and environment with a value from each source and a secret in each."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "site.toml"
    config.write_text(
        '[demo]\nseed = 5\n[map]\ntile_url = "https://t0.example.cn/wmts/{z}/{x}/{y}?layer=img&tk=tile-token"\n'
        '[telemetry.mqtt]\nusername = "zz"\npassword = "mqtt-pw"\n'
    )
    monkeypatch.setenv("ZHIZHI_CONFIG", str(config))
    monkeypatch.setenv("ZHIZHI_DEMO__GRIDS", "64")
    monkeypatch.setenv("ZHIZHI_DEMO_PASSWORD", "s3cret-demo")
    monkeypatch.setenv("ZHIZHI_DATABASE_URL", "postgresql+psycopg://zz:hunter2@db:5432/zhizhi")
    monkeypatch.setenv("ZHIZHI_BUS__URL", "redis://:redis-pw@cache:6379/0")
    return config


def test_each_field_names_its_source(configured):
    entries = {e.key: e for e in config_report({"port": 9100}).entries}
    assert (entries["port"].value, entries["port"].source) == (9100, "cli")
    assert (entries["demo.grids"].value, entries["demo.grids"].source) == (64, "environment")
    assert entries["demo.grids"].env == "ZHIZHI_DEMO__GRIDS"
    assert (entries["demo.seed"].value, entries["demo.seed"].source) == (5, "file")
    assert (entries["demo.towns"].value, entries["demo.towns"].source) == (None, "default")  # from the boundary
    assert entries["telemetry.mqtt.username"].source == "file"
    assert all(e.description for e in entries.values())


def test_secrets_are_masked(configured):
    entries = {e.key: e for e in config_report().entries}
    assert entries["demo_password"].value == "***" and entries["demo_password"].secret
    assert entries["telemetry.mqtt.password"].value == "***"
    assert entries["database_url"].value == "postgresql+psycopg://zz:***@db:5432/zhizhi"
    assert entries["bus.url"].value == "redis://:***@cache:6379/0"
    assert entries["map.tile_url"].value == "https://t0.example.cn/wmts/{z}/{x}/{y}?layer=img&tk=***"
    assert entries["auth.token_ttl_s"].value == 12 * 3600  # named like a token, but not one


@pytest.mark.parametrize("args", [["config", "show"], ["config", "show", "--json"]])
def test_the_command_prints_no_secret(configured, args):
    result = CliRunner().invoke(app, [*args, "--port", "9100"])
    assert result.exit_code == 0, result.output
    for secret in SECRETS:
        assert secret not in result.output
    if "--json" in args:
        report = json.loads(result.output)
        assert report["file"] == str(configured) and report["file_exists"]
        rows = {row["key"]: row for row in report["settings"]}
        assert rows["port"]["source"] == "cli" and rows["demo.seed"]["source"] == "file"
        assert rows["demo.grids"]["description"].startswith("Grid cells the district is divided into; default:")
    else:
        assert f"# settings file: {configured} (read)" in result.output
        line = next(line for line in result.output.splitlines() if line.startswith("demo.grids "))
        assert "= 64" in line and "[environment: ZHIZHI_DEMO__GRIDS]" in line and "Grid cells" in line


def test_an_unknown_variable_fails_the_command_naming_it(configured, monkeypatch):
    monkeypatch.setenv("ZHIZHI_DEMO__SEEED", "hunter2")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "ZHIZHI_DEMO__SEEED" in result.output and "hunter2" not in result.output


@pytest.mark.parametrize("url, masked", [
    ("redis://cache:6379/0", "redis://cache:6379/0"),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/zhizhi", "postgresql+psycopg://postgres@127.0.0.1:5432/zhizhi"),
    ("redis://user:pw@cache/0", "redis://user:***@cache/0"),
    ("https://tiles.local/{z}/{x}/{y}.png?access_token=abc&style=dark", "https://tiles.local/{z}/{x}/{y}.png?access_token=***&style=dark"),
    ("not a url", "not a url"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked
