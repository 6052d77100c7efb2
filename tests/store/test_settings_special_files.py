"""Issue 14: a settings.toml that is not a regular file (a FIFO, a directory) or is nested thousands
deep never hangs or crashes a command — every reader of the file (the settings themselves and the
log set-up that runs before them) goes through desk.userfile.read_regular and the settings reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desk.userfile import NotRegularFileError, read_regular

ROOT = Path(__file__).resolve().parents[2]


def desk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # the timeout is a hang guard only: a FIFO read used to block here for ever
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX feature")
def test_a_fifo_as_settings_file_is_named_not_waited_on(subprocess_env, desk_home) -> None:
    settings = desk_home / "config" / "settings.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(settings)
    result = desk(subprocess_env, "config", "show")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot read {settings}: it is a pipe (FIFO), not a regular file; using defaults" in result.stderr
    assert "[monitor]" in result.stdout  # the defaults, shown
    # nothing was written over the FIFO
    assert settings.is_fifo()


def test_a_settings_file_nested_thousands_deep_is_no_crash(subprocess_env, desk_home) -> None:
    settings = desk_home / "config" / "settings.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("schema_version = 2\n[logs]\nlevel = \"debug\"\n[alerts]\nx = " + "[" * 5000
                        + "]" * 5000 + "\n", encoding="utf-8")
    result = desk(subprocess_env, "config", "get", "logs.level")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stdout.strip() == "debug"  # the rest of the file is kept
    assert "alerts.x" in result.stderr


def test_read_regular_refuses_a_directory_and_caps_the_size(tmp_path) -> None:
    with pytest.raises(NotRegularFileError) as err:
        read_regular(tmp_path, 10)
    assert err.value.kind == "a directory"
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    assert read_regular(big, 10) == b"x" * 11  # one byte over the limit says "too big"
    assert read_regular(big, 1000) == b"x" * 100


@pytest.mark.parametrize("size", [0, 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7])
def test_read_regular_returns_every_byte_whatever_the_size(tmp_path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "data"
    path.write_bytes(data)
    assert read_regular(path, 4 << 20) == data
    assert read_regular(path, size) == data  # exactly at the limit: all of it, nothing more to read
    if size:
        assert read_regular(path, size - 1) == data  # one over: the caller sees it is too big


def test_read_regular_reads_on_past_the_size_the_file_claimed() -> None:
    # /proc files are regular files that say they are empty; a file that grows while it is read is
    # the same case: the size fstat gave is not where reading stops
    path = Path("/proc/self/status")  # desk's machines are Linux
    text = read_regular(path, 1 << 20)
    assert os.stat(path).st_size == 0 and b"\nPid:" in text and text.endswith(b"\n")
    assert len(read_regular(path, 10)) == 11
