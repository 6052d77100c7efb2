"""The foundation: the command, its version and help, DESK_HOME isolation, and the
architecture checks (ruff, mypy strict for desk.domain, import-linter contracts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import desk
from desk.cli import main
from desk.store.paths import desk_paths

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def run_desk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)


def test_version_flag_prints_the_package_version(subprocess_env: dict[str, str]) -> None:
    out = run_desk("--version", env=subprocess_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"desk {desk.__version__}"


def test_console_script_is_installed_and_matches_module(subprocess_env: dict[str, str]) -> None:
    exe = shutil.which("desk", path=str(VENV_BIN))
    assert exe, "the `desk` console script is not installed in the environment"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, env=subprocess_env)
    assert out.stdout.strip() == f"desk {desk.__version__}"


def test_help_lists_only_registered_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from desk import cli

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--home DIR" in text
    for name in cli.command_modules():
        assert name.replace("_", "-") in text


def test_desk_home_redirects_every_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_HOME", str(tmp_path / "portable"))
    paths = desk_paths()
    for d in (paths.config_dir, paths.data_dir, paths.cache_dir, paths.log_dir):
        assert d.is_relative_to(tmp_path / "portable")
    assert paths.portable


def test_without_desk_home_platformdirs_are_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DESK_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    paths = desk_paths()
    assert paths.config_dir == tmp_path / "cfg" / "desk"
    assert not paths.portable


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(VENV_BIN))
    assert exe, f"{name} is not installed: install the test extra (pip install -e '.[test]')"
    return exe


def test_ruff_is_clean() -> None:
    out = subprocess.run([_tool("ruff"), "check", "desk", "tests", "benchmarks"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_contracts_hold() -> None:
    out = subprocess.run([_tool("lint-imports"), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_is_clean_and_strict_for_the_domain() -> None:
    out = subprocess.run([_tool("mypy"), "--no-incremental", "--cache-dir", os.devnull, "desk"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


# pytest-qt's waits that are context managers: called as a bare statement they wait for nothing
# (a bare `qtbot.waitExposed(w)` let the staged-apply test paint a window not yet on screen)
_CONTEXT_WAITS = {"waitExposed", "wait_exposed", "waitActive", "wait_active", "waitSignal", "wait_signal",
                  "waitSignals", "wait_signals", "assertNotEmitted", "assert_not_emitted", "waitCallback",
                  "wait_callback", "captureExceptions", "capture_exceptions"}


def bare_context_waits(source: str) -> list[int]:
    """The lines of ``source`` where one of pytest-qt's waiting context managers is called as a
    statement of its own, its context never entered."""
    import ast

    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in _CONTEXT_WAITS]


def test_no_test_calls_a_waiting_context_manager_bare() -> None:
    assert bare_context_waits("qtbot.waitExposed(w)\nwith qtbot.waitExposed(w):\n    w.show()\n") == [1]
    found = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "tests").rglob("*.py"))
             for line in bare_context_waits(path.read_text(encoding="utf-8"))]
    assert not found, f"write `with qtbot.waitExposed(...):` around what shows the widget: {found}"
