"""The alert service's tests share a fake clock, an in-process bus and a service on a SQLite file."""

from __future__ import annotations

import pytest

from tests.alerts_support import FakeClock, open_service
from zhizhi.bus import InProcessBus


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus():
    bus = InProcessBus()
    yield bus
    bus.stop()


@pytest.fixture
def service(tmp_path, clock, bus):
    return open_service(tmp_path / "alerts.db", clock, bus=bus)
