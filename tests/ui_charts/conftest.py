"""Fixtures for the chart and what-if tests. Importing desk.ui first installs its guard against the
PySide6 6.12 / CPython 3.11 reference-count bug before pytest-qt creates the QApplication."""

from __future__ import annotations

import pytest

from desk.domain.model import Portfolio
from tests.support.ui_charts import flash_crash_portfolio


@pytest.fixture(scope="session")
def crash() -> Portfolio:
    return flash_crash_portfolio()
