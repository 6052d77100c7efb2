"""Where desk keeps its files: config, data, cache and logs.

Every location comes from platformdirs, unless ``DESK_HOME`` (or the global ``--home DIR``
option, which sets it) redirects all of them into one folder — for portable installs and
for every test, so no test touches the real user's files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "desk"
HOME_ENV = "DESK_HOME"


@dataclass(frozen=True)
class DeskPaths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    portable: bool

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def history_db(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def demo_history_db(self) -> Path:
        """The demo venue's history: kept apart, so simulated samples never mix with real ones."""
        return self.data_dir / "history-demo.sqlite3"

    def history_for(self, *, demo: bool) -> Path:
        """The one place that decides which history file a runtime writes and every view reads."""
        return self.demo_history_db if demo else self.history_db

    @property
    def markets_cache_dir(self) -> Path:
        return self.cache_dir / "markets"

    def ensure(self) -> DeskPaths:
        for d in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self


def desk_paths() -> DeskPaths:
    """The locations in force now (re-read each call, so ``DESK_HOME`` set later is honoured)."""
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        root = Path(home).expanduser().resolve()
        return DeskPaths(
            config_dir=root / "config",
            data_dir=root / "data",
            cache_dir=root / "cache",
            log_dir=root / "logs",
            portable=True,
        )
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return DeskPaths(
        config_dir=Path(dirs.user_config_dir),
        data_dir=Path(dirs.user_data_dir),
        cache_dir=Path(dirs.user_cache_dir),
        log_dir=Path(dirs.user_log_dir),
        portable=False,
    )
