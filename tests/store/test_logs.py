"""Logs: rotating file in the log dir, and a canary secret that must never reach any file under DESK_HOME."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.store.logs import setup_logging
from desk.store.paths import desk_paths
from desk.store.redact import forget_secrets, register_secret

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    before_handlers, before_level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before_handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(before_level)
    logging.captureWarnings(False)
    forget_secrets()


def all_text_under(home: Path) -> str:
    chunks = []
    for path in home.rglob("*"):
        if path.is_file():
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_log_file_is_in_the_log_dir_and_rotates(desk_home: Path) -> None:
    path = setup_logging("debug", max_megabytes=0.01, backups=2)
    assert path == desk_paths().log_dir / "desk.log"
    log = logging.getLogger("desk.test")
    for i in range(400):
        log.info("line %d %s", i, "x" * 50)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["desk.log", "desk.log.1", "desk.log.2"]
    assert path.stat().st_size <= 0.01 * 1024 * 1024 + 200
    assert "line 399" in path.read_text()


def test_setup_twice_does_not_duplicate_lines(desk_home: Path) -> None:
    setup_logging("info", max_megabytes=1, backups=1)
    path = setup_logging("info", max_megabytes=1, backups=1)
    logging.getLogger("desk.test").info("only once please")
    assert path.read_text().count("only once please") == 1


def test_level_comes_from_settings(desk_home: Path) -> None:
    from desk.store.settings import Settings

    s = Settings.load()
    s.set("logs.level", "warning")
    s.save()
    path = setup_logging()
    log = logging.getLogger("desk.test")
    log.info("hidden info")
    log.warning("visible warning")
    text = path.read_text()
    assert "visible warning" in text and "hidden info" not in text


def test_canary_secret_never_reaches_a_file(desk_home: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "CANARY" + secrets.token_hex(12)  # registered, as the keyring facade does for real keys
    unregistered = secrets.token_hex(5)  # only the patterns can catch this one
    register_secret(canary)
    path = setup_logging("debug", console=True)
    log = logging.getLogger("desk.exchanges.test")

    log.info(f"api key is {canary}")  # in the message itself
    log.info("loaded key %s for %r", canary, {"apiKey": canary})  # in the args
    try:
        raise ConnectionError(f"request failed with key {canary}")
    except ConnectionError:
        log.exception("fetch failed")  # in a traceback
    url = (f"https://127.0.0.1:9/fapi/v3/positionRisk?timestamp=1&recvWindow=10000&signature={unregistered}")
    log.warning("binance GET %s 400 {'X-MBX-APIKEY': '%s'}", url, unregistered)  # ccxt-style URL + header
    log.debug("POST /fapi/v1/listenKey -> {\"listenKey\":\"%s\"}", unregistered)
    warnings.warn(f"deprecated call with {canary}", UserWarning, stacklevel=1)  # captured warnings

    # a crash report through the real command entry point
    from desk.cli import main

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"venue said: bad signature for {url} with key {canary}")

    monkeypatch.setattr("desk.store.settings.Settings.load", boom)
    capsys.readouterr()  # what the console handler above printed
    assert main(["config", "show"]) == 1
    captured = capsys.readouterr()
    assert canary not in captured.err and unregistered not in captured.err
    assert "internal error (RuntimeError" in captured.err and str(path) in captured.err
    assert len(captured.err.strip().splitlines()) == 1  # one line, no traceback

    for handler in logging.getLogger().handlers:
        handler.flush()
    # the traceback went to desk.log (not a separate crash file), redacted
    assert not list(desk_paths().log_dir.glob("crash-*.txt"))
    assert "RuntimeError: venue said: bad signature" in path.read_text()
    text = all_text_under(desk_home)
    assert "fetch failed" in text and "ConnectionError: request failed with key ***" in text
    assert "signature=***" in text
    assert "deprecated call" in text
    assert canary not in text
    assert unregistered not in text
    assert path.exists()


def test_crash_report_of_a_real_subprocess_is_redacted(tmp_path: Path, subprocess_env: dict[str, str],
                                                       desk_home: Path) -> None:
    """The canary goes through ``python -m desk`` in a separate process: desk.log and stderr."""
    canary = secrets.token_hex(32)  # looks like a hex private key / HMAC secret
    script = (
        "import sys, desk.store.settings as s\n"
        f"def boom(*a, **k): raise ValueError('privateKey=0x{canary} rejected')\n"
        "s.Settings.load = boom\n"
        "from desk.cli import main\n"
        "sys.exit(main(['config', 'show']))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=subprocess_env,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 1
    assert canary not in out.stderr and canary not in out.stdout
    assert "Traceback" not in out.stderr and "desk.log" in out.stderr
    assert "ValueError: privateKey=***" in (desk_home / "logs" / "desk.log").read_text()
    assert canary not in all_text_under(desk_home)


def test_uncaught_thread_exception_is_logged_redacted(desk_home: Path) -> None:
    import threading

    canary = "CANARY" + secrets.token_hex(12)
    register_secret(canary)
    previous_hook = threading.excepthook
    try:
        path = setup_logging("info", max_megabytes=1, backups=1)

        def work() -> None:
            raise RuntimeError(f"worker died holding {canary}")

        thread = threading.Thread(target=work, name="monitor-test")
        thread.start()
        thread.join(timeout=10)
        text = path.read_text()
    finally:
        threading.excepthook = previous_hook
    assert "uncaught exception in thread monitor-test" in text
    assert "RuntimeError: worker died holding ***" in text
    assert canary not in text
