"""desk.ui: the PySide6 window, tray, dialogs and charts — the only package that imports Qt widgets.

Importing this package first protects the process from a reference-count bug: with
PySide6 6.12 on CPython 3.11, every event Qt dispatches (a repaint, ``processEvents``, a
sort) drops one reference to ``None`` that it never took, so a long-running window dies
with "Fatal Python error: none_dealloc" after some tens of thousands of events. CPython
3.12 made ``None`` immortal (PEP 683) and is immune; on 3.11 we give ``None`` a reference
count so large that no session can exhaust it, which is what 3.12 does by design.
"""

from __future__ import annotations

import ctypes
import sys

_NONE_RESERVE = 1 << 60


def _make_none_immortal() -> None:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    refcount = ctypes.c_ssize_t.from_address(id(None))
    if refcount.value < _NONE_RESERVE:
        refcount.value += _NONE_RESERVE


_make_none_immortal()
