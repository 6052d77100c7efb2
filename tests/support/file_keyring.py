"""A keyring backend for `desk` subprocesses in tests: items in a JSON file the test names.

Select it with ``PYTHON_KEYRING_BACKEND=tests.support.file_keyring.SubprocessFileKeyring`` and
``DESK_TEST_KEYRING=<file>`` (outside DESK_HOME); the subprocess runs with cwd = repo root, so
``tests`` is importable. Only fake test credentials ever go in it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

BACKEND = "tests.support.file_keyring.SubprocessFileKeyring"


class SubprocessFileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["DESK_TEST_KEYRING"])

    def _items(self) -> dict[str, str]:
        return json.loads(self._path.read_text()) if self._path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._items().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        items = self._items()
        items[f"{service}/{username}"] = password
        self._path.write_text(json.dumps(items))

    def delete_password(self, service: str, username: str) -> None:
        items = self._items()
        if items.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(f"{service}/{username} not found")
        self._path.write_text(json.dumps(items))


class ExplodingKeyring(KeyringBackend):
    """A backend with a bug: reading raises something no keyring error class covers."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError(f"backend bug while reading {username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("backend bug while writing")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("backend bug while deleting")
