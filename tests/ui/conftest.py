"""Fixtures for the dashboard tests (pytest-qt creates the QApplication; pytest-xvfb the display)."""

from __future__ import annotations

from tests.support.push_services import push_server  # noqa: F401
