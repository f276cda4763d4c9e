"""The evidence tests share an evidence store in the test's own folder (30 days' retention)."""

from __future__ import annotations

import pytest

from zhizhi.video.evidence_store import EvidenceStore


@pytest.fixture
def store(tmp_path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence", retention_days=30)
