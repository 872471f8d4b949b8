"""Fixtures of the pure detector tests."""

from __future__ import annotations

import pytest

from detectors.catalogue import load_rules
from detectors.rule import Rule
from tests.detectors.builders import Events


@pytest.fixture
def ev() -> Events:
    return Events()


@pytest.fixture(scope="session")
def catalogue() -> list[Rule]:
    return load_rules()
