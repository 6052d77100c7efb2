"""The command loads only what the chosen subcommand needs (issue 18), and every command still parses.

What a process imported is read from its own ``sys.modules`` at exit: `desk risk`, `desk --help`
and `desk --version` run as a user runs them (``python -m desk``), and a small runner around them
reports the modules. No time is measured here (benchmarks/bench_startup.py does that).
"""

from __future__ import annotations

import argparse
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import desk.commands
from desk.cli import LazyCommands, build_parser
from desk.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "multi-venue.json"

# Runs `python -m desk ARGS…` in this process, then writes the names of the loaded modules to the
# file named first (even when desk exits through SystemExit, as --help and --version do).
RUNNER = """
import json, runpy, sys
report, sys.argv = sys.argv[1], ["desk", *sys.argv[2:]]
try:
    runpy.run_module("desk", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(report, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""

# What no command here needs: the exchanges' client and its transport, the window toolkit and
# its charts, the keyring, the remote alert channels.
HEAVY = ("ccxt", "aiohttp", "PySide6", "shiboken6", "pyqtgraph", "keyring", "apprise", "asyncio")


def loaded_by(args: list[str], env: dict[str, str],
              tmp_path: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    report = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", RUNNER, str(report), *args], capture_output=True,
                            text=True, cwd=ROOT, env=env, timeout=120)
    assert report.exists(), result.stderr
    data = json.loads(report.read_text())
    assert data["code"] in (0, None), result.stderr
    return set(data["modules"]), result


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def commands_in(modules: set[str]) -> set[str]:
    return {m.removeprefix("desk.commands.") for m in modules
            if m.startswith("desk.commands.") and not m.startswith("desk.commands._")}


def test_risk_loads_its_own_command_and_nothing_heavy(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    modules, result = loaded_by(["risk", "--json", str(EXAMPLE)], subprocess_env, tmp_path)
    report = json.loads(result.stdout)  # the command did its work: a whole report was printed
    assert report["format"] == "desk.risk/1"
    assert len(report["accounts"]) == len(json.loads(EXAMPLE.read_text())["accounts"])
    assert heavy_in(modules) == []
    assert commands_in(modules) == {"risk"}
    # the book's betas are desk.domain.betas': the demo venue (which moves its market by them) is
    # not loaded at all
    assert "desk.domain.betas" in modules
    assert not {m for m in modules if m.startswith("desk.exchanges")}


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_load_no_command_and_no_numpy(flag: str, subprocess_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    modules, result = loaded_by([flag], subprocess_env, tmp_path)
    assert result.stdout.strip()
    assert heavy_in(modules) == []
    assert commands_in(modules) == set()
    assert "numpy" not in modules
    assert not {m for m in modules if m.startswith(("desk.domain", "desk.store", "desk.exchanges"))}


def test_each_command_loads_only_its_own_module(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    for name, _ in COMMANDS:
        modules, result = loaded_by([name, "--help"], subprocess_env, tmp_path)
        assert result.stdout.startswith(f"usage: desk {name}"), result.stdout
        assert commands_in(modules) == {name}
        assert heavy_in(modules) == [], name


def test_the_table_declares_exactly_the_command_modules() -> None:
    """A module with ``register`` is a command: declared once in the table, and the other way round."""
    import importlib

    found = set()
    for module in pkgutil.iter_modules(desk.commands.__path__):
        if module.name.startswith("_"):
            continue
        if hasattr(importlib.import_module(f"desk.commands.{module.name}"), "register"):
            found.add(module.name)
    declared = [name for name, _ in COMMANDS]
    assert len(declared) == len(set(declared))
    assert set(declared) == found
    assert all(summary.strip() for _, summary in COMMANDS)


def test_help_lists_every_command_with_its_summary(subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "desk", "--help"], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line.split(None, 1) for line in result.stdout.splitlines() if line.startswith("    ")]
    listed = [(words[0], words[1].strip()) for words in lines if words and words[0] in dict(COMMANDS)]
    assert listed == list(COMMANDS)


def test_an_unknown_command_is_refused_naming_the_commands(subprocess_env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "desk", "no-such-command"], capture_output=True,
                            text=True, cwd=ROOT, env=subprocess_env, timeout=60)
    assert result.returncode == 2
    assert "invalid choice: 'no-such-command'" in result.stderr
    for name, _ in COMMANDS:
        assert repr(name) in result.stderr


def _actions(parser: argparse.ArgumentParser) -> list[str]:
    """The names of a command's own subcommands (`accounts add`, `config set`…), if it has any."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def test_every_command_and_action_help_works(subprocess_env: dict[str, str]) -> None:
    """Each command's --help, and each of its actions', as a user runs it: exit 0, its own usage."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, LazyCommands)]
    invocations = []
    for name, _ in COMMANDS:
        invocations.append([name])
        invocations += [[name, action] for action in _actions(commands.load(name))]
    assert len(invocations) > len(COMMANDS)  # accounts, alerts and config have actions
    for words in invocations:
        result = subprocess.run([sys.executable, "-m", "desk", *words, "--help"], capture_output=True,
                                text=True, cwd=ROOT, env=subprocess_env, timeout=60)
        assert result.returncode == 0, (words, result.stderr)
        assert result.stdout.startswith(f"usage: desk {' '.join(words)}"), (words, result.stdout[:200])


def test_a_loaded_command_parses_like_before() -> None:
    """The lazy parser gives the chosen command's arguments and handler, parsed in one pass."""
    args = build_parser().parse_args(["--home", "/tmp/x", "risk", "--json", "file.json", "--shock", "-10"])
    assert (args.command, args.home, args.file, args.json, args.shock) == \
        ("risk", "/tmp/x", "file.json", True, "-10")
    from desk.commands import risk

    assert args.handler is risk.run


def test_the_dashboard_module_loads_no_numpy_charts_or_venues(subprocess_env: dict[str, str]) -> None:
    """What the window needs before it is shown: Qt and desk's UI, not numpy (the services bring it
    once the window is up), pyqtgraph (the charts, after the first numbers), ccxt or the keyring."""
    code = "import sys, json, desk.ui.app; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env=subprocess_env, timeout=120)
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout))
    assert "PySide6.QtWidgets" in modules and "desk.ui.main_window" in modules
    assert sorted(m for m in modules if m.split(".")[0] in ("numpy", "pyqtgraph", "ccxt", "keyring",
                                                            "apprise", "asyncio")) == []
