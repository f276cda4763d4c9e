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
    assert s.port == 8000 and s.demo.cameras == 120
    assert s.demo.grids is s.demo.towns is s.demo.villages_per_town is None  # from the boundary (gis.district)
    assert s.map.tile_url is None  # nothing from the internet unless configured
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'var' / 'zhizhi.db').resolve()}"


def test_file_then_environment(monkeypatch, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(
        'port = 9001\ndata_dir = "/srv/zz"\n[demo]\nseed = 5\ngrids = 512\n[layers]\nmax_upload_bytes = 1000\n'
    )
    monkeypatch.setenv("ZHIZHI_CONFIG", str(config))
    monkeypatch.setenv("ZHIZHI_DEMO__SEED", "9")
    s = Settings()
    assert s.port == 9001 and s.data_dir == Path("/srv/zz")
    assert s.demo.grids == 512 and s.demo.seed == 9  # environment beats the file
    assert s.layers.max_upload_bytes == 1000


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"ZHIZHI_PORT": "70000"}, "port"),
        ({"ZHIZHI_DEMO__ADCODE": "32061"}, "adcode"),
        ({"ZHIZHI_DEMO__GRIDS": "0"}, "grids"),
    ],
)
def test_bad_values_name_the_field(monkeypatch, tmp_path, env, fragment):
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert fragment in str(info.value)


# --- strictness: an unknown key is an error naming it -----------------------------------------
def test_a_typo_in_the_settings_file_is_an_error_naming_the_key(monkeypatch, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('port = 9001\n[demo]\nseeed = 5\n')
    monkeypatch.setenv("ZHIZHI_CONFIG", str(config))
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "demo.seeed" in str(info.value) and "Extra inputs are not permitted" in str(info.value)


def test_a_typo_at_the_top_of_the_settings_file_is_an_error_too(monkeypatch, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('portt = 9001\ndemo_password = "hunter2"\ndemo_pasword = "hunter2"\n')
    monkeypatch.setenv("ZHIZHI_CONFIG", str(config))
    with pytest.raises(ValidationError) as info:
        Settings()
    text = str(info.value)
    assert "portt" in text and "demo_pasword" in text
    assert "hunter2" not in text  # errors never echo a value (it may be a password)


#: Typos on purpose, in these tests and in the examples of the docs and docstrings.
TYPOS = {"ZHIZHI_PORTT", "ZHIZHI_DEMO__SEEED", "ZHIZHI_TELEMETRY__MQTT__PASWORD"}


@pytest.mark.parametrize("name", [*sorted(TYPOS), "zhizhi_data_dirr"])
def test_a_typo_in_the_environment_is_an_error_naming_the_variable(monkeypatch, tmp_path, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, "s3cret-value")
    with pytest.raises(ValidationError) as info:
        Settings()
    text = str(info.value)
    assert name.upper() in text.upper() and "unknown setting" in text
    assert "s3cret-value" not in text


def test_the_error_suggests_the_declared_name(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHIZHI_DEMO__SEEED", "7")
    with pytest.raises(ValidationError, match="did you mean ZHIZHI_DEMO__SEED"):
        Settings()


def test_declared_variables_nested_ones_and_mapping_keys_are_accepted(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHIZHI_ALERTS__POLICY__COOLDOWN_S", "60")
    monkeypatch.setenv("ZHIZHI_ALERTS__POLICY__TIME_LIMITS_S__FIRE", "120")
    monkeypatch.setenv("ZHIZHI_TELEMETRY__MQTT__HOST", "broker")
    monkeypatch.setenv("ZHIZHI_TEST_POSTGRES", "postgresql://x")  # a test tool's own, not a setting
    s = Settings()
    assert s.alerts.policy.cooldown_s == 60 and s.alerts.policy.time_limits_s["fire"] == 120
    assert s.telemetry.mqtt.host == "broker"


def test_every_zhizhi_variable_the_repository_uses_is_declared():
    """Tests, scripts, benches and docs set ZHIZHI_* variables: each must name a field (or be one
    of the few that are not settings), or the strict check would refuse it."""
    import re

    from zhizhi.console.settings_keys import OTHER_VARIABLES, EnvNames

    root = Path(__file__).resolve().parents[2]
    names = EnvNames.of(Settings, "ZHIZHI_", "__")
    files = [p for folder in ("tests", "scripts", "bench", "console", "docs") for p in (root / folder).rglob("*")
             if p.suffix in {".py", ".sh", ".md", ".toml", ".yml", ".yaml"} and "node_modules" not in p.parts]
    files += [root / "README.md", root / "Makefile"]
    used = {
        m
        for f in files
        if f.is_file()
        for m in re.findall(r"\bZHIZHI_[A-Z0-9_]*[A-Z0-9]", f.read_text(errors="replace"))
    }
    unknown = sorted(n for n in used if n not in names and n not in OTHER_VARIABLES and n not in TYPOS)
    assert not unknown, f"ZHIZHI_* variables used but not declared: {unknown}"


# --- configuration that describes itself ------------------------------------------------------
def _sections(model, path="settings"):
    import typing

    from pydantic import BaseModel

    yield path, model
    for name, info in model.model_fields.items():
        for kind in (info.annotation, *typing.get_args(info.annotation)):
            for inner in (kind, *typing.get_args(kind)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _sections(inner, f"{path}.{name}")


def test_every_section_and_field_is_described():
    missing = []
    for path, model in _sections(Settings):
        if not (model.__doc__ or "").strip():
            missing.append(path)
        missing += [
            f"{path}.{name}" for name, info in model.model_fields.items() if not (info.description or "").strip()
        ]
    assert not missing, f"settings without a description: {missing}"


def test_every_section_forbids_unknown_keys():
    loose = [path for path, model in _sections(Settings) if model.model_config.get("extra") != "forbid"]
    assert not loose, f"sections that would drop a typo: {loose}"


def test_numbers_have_bounds():
    """A number with a range says so (ge/gt/le/lt); the seed is the one unbounded above."""
    import annotated_types

    unbounded = []
    for path, model in _sections(Settings):
        for name, info in model.model_fields.items():
            if info.annotation in (int, float):
                bounds = [m for m in info.metadata if isinstance(m, annotated_types.Ge | annotated_types.Gt)]
                if not bounds:
                    unbounded.append(f"{path}.{name}")
    assert not unbounded, f"numbers without a lower bound: {unbounded}"
