"""``zhizhi bench recording`` on one second of video: it runs and keeps its JSON contract."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from zhizhi.bench.cli import app


def test_the_recording_bench_runs_and_keeps_its_contract():
    answer = CliRunner().invoke(app, ["recording", "--seconds", "1", "--json"])
    assert answer.exit_code == 0, answer.output
    result = json.loads(answer.output)
    assert result["h264_encoder"] == "libx264"
    for size in ("640x360", "1280x720", "1920x1080"):
        assert result[f"encode_{size}_fps"] > 0 and result[f"cameras_at_10fps_{size}"] >= 0
    assert result["copy_speedup_vs_reencode"] > 1  # copying never decodes
    assert result["copied_segments"] >= 1
