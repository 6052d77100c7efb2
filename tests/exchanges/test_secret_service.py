"""`desk accounts` against a real Secret Service (gnome-keyring) in subprocesses."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.secret_service import secret_service  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def _desk(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_keys_live_in_the_secret_service_and_nowhere_under_desk_home(
        secret_service, subprocess_env, desk_home: Path):  # noqa: F811
    env = secret_service.env(subprocess_env)
    api_key = "test-key-" + secrets.token_hex(12)
    secret = "test-secret-" + secrets.token_hex(24)

    added = _desk(env, "accounts", "add", "main", "--venue", "binanceusdm", "--label", "Main",
                  "--secrets-from-stdin", stdin=f"{api_key}\n{secret}\n")
    assert added.returncode == 0, added.stderr
    assert "SecretService" in added.stdout
    assert secret_service.lookup(service="desk", username="main:secret") == secret
    assert secret_service.lookup(service="desk", username="main:apiKey") == api_key

    listed = _desk(env, "accounts", "list")
    assert listed.returncode == 0, listed.stderr
    assert "main" in listed.stdout and "stored" in listed.stdout and "SecretService" in listed.stdout
    assert secret not in listed.stdout + listed.stderr and api_key not in listed.stdout + listed.stderr

    files = [p for p in desk_home.rglob("*") if p.is_file()]
    assert any(p.name == "settings.toml" for p in files)
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data and api_key.encode() not in data, path

    removed = _desk(env, "accounts", "remove", "main")
    assert removed.returncode == 0, removed.stderr
    assert "2 keyring item(s)" in removed.stdout
    assert secret_service.lookup(service="desk", username="main:secret") is None
    assert secret_service.lookup(service="desk", username="main:apiKey") is None


def test_without_a_keyring_adding_keys_fails_with_what_to_install(subprocess_env):
    env = dict(subprocess_env, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    done = _desk(env, "accounts", "add", "main", "--venue", "bybit", "--secrets-from-stdin",
                 stdin="test-key-x\ntest-secret-y\n")
    assert done.returncode == 2
    assert "cannot store API keys safely" in done.stderr and "gnome-keyring" in done.stderr
    assert "Traceback" not in done.stderr
