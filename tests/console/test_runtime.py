"""The console's one runtime: ordered start, reverse stop, idempotent, nothing left after a failure."""

from __future__ import annotations

import threading
import time

import pytest

from zhizhi.console.runtime import Runtime
from zhizhi.console.settings import AlertSettings, DemoSettings, Settings


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """A small console with every thread it can have on one machine: both rule runners, the
    position feed, the model watch and the deadline watch."""
    return Settings(data_dir=tmp_path_factory.mktemp("runtime"),
                    demo=DemoSettings(seed=7, grids=64, towns=3, villages_per_town=2, cameras=0),
                    alerts=AlertSettings(check_interval_s=60))


def _steps(runtime: Runtime, action: str) -> list[str]:
    return [step for done, step in runtime.history if done == action]


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def test_it_starts_in_order_and_stops_in_reverse(settings):
    runtime = Runtime(settings).start()
    assert runtime.running and _steps(runtime, "start") == list(Runtime.STEPS)
    assert runtime.state is not None and runtime.state.runtime is runtime
    assert runtime.state.warnings is not None and runtime.state.trajectory is not None
    runtime.stop()
    assert _steps(runtime, "stop") == list(reversed(Runtime.STEPS))
    assert not runtime.running


def test_start_and_stop_are_idempotent_and_close_is_stop(settings):
    runtime = Runtime(settings)
    assert runtime.start() is runtime.start() is runtime
    assert _steps(runtime, "start") == list(Runtime.STEPS)  # once
    runtime.state.close()
    runtime.stop()
    runtime.state.close()
    assert _steps(runtime, "stop") == list(reversed(Runtime.STEPS))  # once
    with pytest.raises(RuntimeError, match="does not start again"):
        runtime.start()


def test_what_is_adopted_stops_first_the_last_first(settings):
    stopped: list[str] = []
    with Runtime(settings) as runtime:
        runtime.adopt("feed a", lambda: stopped.append("a"))
        runtime.adopt("feed b", lambda: stopped.append("b"))
    assert stopped == ["b", "a"]
    assert _steps(runtime, "stop")[:3] == ["feed b", "feed a", Runtime.STEPS[-1]]


def test_a_stop_that_fails_does_not_keep_the_others_from_stopping(settings, monkeypatch):
    def broken(self) -> None:
        raise OSError("the broker is gone")

    monkeypatch.setattr(Runtime, "stop_live", broken)
    runtime = Runtime(settings).start()
    runtime.stop()
    assert _steps(runtime, "stop") == list(reversed(Runtime.STEPS))


@pytest.mark.parametrize("failing", ["deadline_watch", "rule_models", "models", "services"])
def test_a_failing_start_step_leaves_nothing_running(settings, monkeypatch, failing):
    """The steps started (the failing one too) are stopped in reverse: no thread of the console
    is left, no subscription on its bus, and the error reaches the caller."""
    original = getattr(Runtime, f"start_{failing}")

    def fail_after_starting(self) -> None:
        original(self)  # the step's threads and subscriptions exist, then it fails
        raise RuntimeError(f"{failing} failed")

    monkeypatch.setattr(Runtime, f"start_{failing}", fail_after_starting)
    before = _threads()
    runtime = Runtime(settings)
    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        runtime.start()
    started = _steps(runtime, "start")
    assert started == list(Runtime.STEPS[: Runtime.STEPS.index(failing) + 1])
    assert _steps(runtime, "stop") == list(reversed(started))
    assert not runtime.running
    deadline = time.monotonic() + 10
    while _threads() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not {t.name for t in _threads() - before}, "threads left running"
    assert runtime._subscriptions == {}
    assert not any(runtime.bus._handlers.values()), "subscriptions left on the bus"


def test_a_bad_model_file_stops_start_up_before_storage_is_touched(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrules: 7\n")
    settings = Settings(data_dir=tmp_path / "data", warning={"model": bad},
                        demo=DemoSettings(seed=7, grids=64, towns=3, villages_per_town=2, cameras=0))
    runtime = Runtime(settings)
    with pytest.raises(ValueError):
        runtime.start()
    assert runtime.history == [("start", "model_files"), ("stop", "model_files")]
    assert not (tmp_path / "data").exists()


def test_the_app_without_a_state_starts_and_stops_a_runtime_of_its_own(settings):
    from fastapi.testclient import TestClient

    from zhizhi.console.app import create_app

    before = _threads()
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        runtime = client.app.state.console.runtime
        assert runtime.running and _steps(runtime, "start") == list(Runtime.STEPS)
    assert _steps(runtime, "stop") == list(reversed(Runtime.STEPS))
    deadline = time.monotonic() + 10
    while _threads() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not {t.name for t in _threads() - before}, "threads left running"


def test_the_app_given_a_state_leaves_its_runtime_to_the_caller(settings):
    from fastapi.testclient import TestClient

    from zhizhi.console.app import create_app

    with Runtime(settings) as runtime:
        with TestClient(create_app(settings, state=runtime.state)) as client:
            assert client.get("/healthz").status_code == 200
        assert runtime.running  # the app's shutdown is not the console's
    assert not runtime.running
