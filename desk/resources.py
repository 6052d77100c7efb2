"""Find desk's resource files (icons, desktop entry, AppStream metainfo) wherever desk runs.

The files live in the repository's top-level ``resources/`` directory. They are found in:

1. a PyInstaller bundle: ``<bundle>/resources`` (``sys._MEIPASS``; see packaging/desk.spec);
2. a source checkout or an editable install: ``resources/`` next to the ``desk`` package;
3. an installed wheel: ``<prefix>/share/desk/resources`` (pyproject.toml ``data-files``), where
   ``<prefix>`` is the environment's data directory or the user base of ``pip install --user``.

Standard library only, so any layer may call it without pulling a dependency.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from pathlib import Path

APP_ID = "io.github.desk.desk"
"""The reverse-DNS application id: desktop file, AppStream id, icon name, Qt desktopFileName."""

TRAY_STATUSES = ("ok", "warning", "critical", "stale")
TRAY_THEMES = ("light", "dark")
TRAY_SIZES = (16, 22, 24, 32, 48, 64)

# A file that every resource directory contains, so a stray directory called "resources" is ignored.
_MARKER = Path("icons") / "desk.svg"


def _candidate_roots() -> list[Path]:
    roots: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle) / "resources")
    roots.append(Path(__file__).resolve().parent.parent / "resources")
    data_dirs = [sysconfig.get_path("data")]
    if site.ENABLE_USER_SITE and site.USER_BASE:
        data_dirs.append(site.USER_BASE)
    roots.extend(Path(d) / "share" / "desk" / "resources" for d in data_dirs if d)
    return roots


def resources_root() -> Path:
    """The directory holding desk's resources; FileNotFoundError names every place looked at."""
    roots = _candidate_roots()
    for root in roots:
        if (root / _MARKER).is_file():
            return root
    looked = ", ".join(str(r) for r in roots)
    raise FileNotFoundError(
        f"desk's resource files are missing (looked in: {looked}); reinstall desk or, in a source "
        "checkout, run from the repository root"
    )


def resource_path(name: str) -> Path:
    """The path of resource ``name`` (relative, '/'-separated, e.g. "icons/desk.svg").

    Raises FileNotFoundError naming the file when it does not exist.
    """
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"resource name must be relative and inside resources/: {name!r}")
    path = resources_root() / relative
    if not path.exists():
        raise FileNotFoundError(f"desk resource {name!r} not found at {path}")
    return path


def app_icon_files() -> list[Path]:
    """The application icon: the SVG master and every rendered PNG size (for QIcon.addFile)."""
    root = resources_root() / "icons"
    pngs = sorted(root.glob(f"hicolor/*/apps/{APP_ID}.png"), key=lambda p: int(p.parts[-3].split("x")[0]))
    return [root / "desk.svg", *pngs]


def tray_icon_files(status: str, theme: str = "light") -> list[Path]:
    """The tray icon for a monitor status, for a light or dark panel: SVG first, then PNG sizes.

    status: one of TRAY_STATUSES; theme: "light" (dark glyph edges, for light panels) or "dark".
    """
    if status not in TRAY_STATUSES:
        raise ValueError(f"unknown tray status {status!r}; expected one of {', '.join(TRAY_STATUSES)}")
    if theme not in TRAY_THEMES:
        raise ValueError(f"unknown tray theme {theme!r}; expected one of {', '.join(TRAY_THEMES)}")
    base = f"tray/{status}-{theme}"
    return [resource_path(f"{base}.svg"), *(resource_path(f"{base}-{s}.png") for s in TRAY_SIZES)]
