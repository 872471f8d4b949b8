"""Fixtures for the incidents tests: findings stored through the real findings store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from sqlalchemy.orm import Session

from detectors.finding import Finding
from incidents.findings_store import FindingRow
from tests.incidents.builders import store_findings

StoreFindings = Callable[[Sequence[Finding]], list[FindingRow]]


@pytest.fixture
def store(db_session: Session) -> StoreFindings:
    """Store findings and return their rows."""

    def _store(findings: Sequence[Finding]) -> list[FindingRow]:
        return store_findings(db_session, findings)

    return _store
