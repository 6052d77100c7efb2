"""A real Secret Service for tests: gnome-keyring-daemon, unlocked, on a private D-Bus.

``secret_service`` starts a ``dbus-daemon`` of our own and ``gnome-keyring-daemon --foreground
--unlock --components=secrets`` on it (password written to its stdin), with HOME and the XDG
directories in a temporary folder, and waits until ``org.freedesktop.secrets`` is owned.
``.env()`` is an environment for subprocesses that makes keyring use it
(``PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring``). Nothing of the user's
session bus or keyring is touched. The binaries are installed by the bootstrap; a missing one
fails the test with a clear message (environment.md §5, §9).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.dbus import PrivateBus, _stop, require, start_private_bus, wait_for


@dataclass
class SecretService:
    bus: PrivateBus
    home: Path
    process: subprocess.Popen[bytes]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(base if base is not None else os.environ)
        env.update({
            "DBUS_SESSION_BUS_ADDRESS": self.bus.address,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_RUNTIME_DIR": str(self.home / "runtime"),
        })
        return env

    def lookup(self, **attributes: str) -> str | None:
        """secret-tool lookup: the stored value, or None when there is no such item."""
        args = [require("secret-tool"), "lookup"]
        for k, v in attributes.items():
            args += [k, v]
        done = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=10, check=False)
        return done.stdout if done.returncode == 0 else None


@pytest.fixture
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    daemon = require("gnome-keyring-daemon")
    home = tmp_path_factory.mktemp("keyring-home")
    for sub in ("data", "runtime"):
        (home / sub).mkdir(mode=0o700)
    bus = start_private_bus(tmp_path_factory.mktemp("keyring-bus"))
    service = SecretService(bus, home, None)  # type: ignore[arg-type]
    proc = subprocess.Popen([daemon, "--foreground", "--unlock", "--components=secrets"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=service.env())
    service.process = proc
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"test-keyring-password")
        proc.stdin.close()
        wait_for(lambda: proc.poll() is not None or bus.name_has_owner("org.freedesktop.secrets"), 10,
                 "gnome-keyring-daemon to own org.freedesktop.secrets")
        if proc.poll() is not None:
            pytest.fail(f"gnome-keyring-daemon exited with {proc.returncode}")
        yield service
    finally:
        _stop(proc)
        _stop(bus.process)
