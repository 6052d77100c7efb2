"""Fixtures for the dashboard tests. Importing desk.ui first installs its guard against the
PySide6 6.12 / CPython 3.11 reference-count bug before pytest-qt creates the QApplication."""

from __future__ import annotations

