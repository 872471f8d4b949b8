"""Console fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.console.support import Console, build_console


@pytest.fixture
def console(fresh_db_url: str) -> Iterator[Console]:
    built = build_console(fresh_db_url)
    yield built
    built.factory.kw["bind"].dispose()
