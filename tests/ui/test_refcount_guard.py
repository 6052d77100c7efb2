"""The guard in desk.ui against PySide6 6.12's reference leaks on None and True (CPython 3.11)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    n = sys.getrefcount(None) + sys.getrefcount(True) + 1000  # more than enough to exhaust both
    {guard}
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication, QLabel
    app = QApplication([])
    label = QLabel("x"); label.show()
    class O(QObject):
        fired = Signal()
    o = O()
    o.fired.connect(lambda: None)
    for i in range(n):
        o.fired.emit()
        app.processEvents()
    print("survived")
""")


def run(guard: str) -> subprocess.CompletedProcess[str]:
    env_script = SCRIPT.format(guard=guard)
    return subprocess.run([sys.executable, "-c", env_script], capture_output=True, text=True, timeout=120,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})


def test_many_events_and_emits_survive_with_the_guard() -> None:
    done = run("import desk.ui")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "survived"


def test_without_the_guard_the_process_dies_on_python_3_11() -> None:
    """Documents why the guard exists; on 3.12+ (immortal singletons) the bug cannot bite."""
    done = run("")
    if sys.version_info >= (3, 12):
        assert done.returncode == 0
    else:
        assert done.returncode != 0
        assert "dealloc" in done.stderr
