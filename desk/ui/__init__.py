"""desk.ui: the PySide6 window, tray, dialogs and charts — the only package that imports Qt widgets.

PySide6-Essentials 6.12.0 on CPython 3.11 drops a reference to ``None`` on every Qt event and to
``True`` on every ``Signal.emit`` it never took, so a long-running window dies with "Fatal Python
error: none_dealloc" after some thousands of events (3.12 made these singletons immortal and is
immune). pyproject.toml therefore keeps 3.11 on PySide6 < 6.12; tests/ui/test_qt_refcounts.py
proves the installed PySide6 survives a long event storm.
"""
