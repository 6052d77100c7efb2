"""desk.ui: the PySide6 window, tray, dialogs and charts — the only package that imports Qt widgets.

Importing this package first protects the process from a reference-count bug: with
PySide6 6.12 on CPython 3.11, Qt's event dispatch drops a reference to ``None`` it never
took (every repaint, every ``processEvents``) and ``Signal.emit`` does the same with ``True``,
so a long-running window dies with "Fatal Python error: none_dealloc" (or bool_dealloc) after
some thousands of events. CPython 3.12 made these singletons immortal (PEP 683) and is immune;
on 3.11 we give them a reference count so large that no session can exhaust it, which is what
3.12 does by design. (Measured with ``sys.getrefcount``: −1 per ``processEvents``, −1 per emit.)
"""

from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 60
_SINGLETONS = (None, True, False, Ellipsis, NotImplemented)


def _make_singletons_immortal() -> None:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in _SINGLETONS:
        refcount = ctypes.c_ssize_t.from_address(id(obj))
        if refcount.value < _RESERVE:
            refcount.value += _RESERVE


_make_singletons_immortal()
