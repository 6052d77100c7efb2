"""The resource files: lookup, icon files (PNG sizes, .ico and .icns structure), desktop entry, metainfo."""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import desk
from desk import resources
from desk.resources import APP_ID, TRAY_SIZES, TRAY_STATUSES, TRAY_THEMES, resource_path, tray_icon_files

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (read independently of Qt)."""
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def load_make_icons():
    spec = importlib.util.spec_from_file_location("make_icons", ROOT / "packaging" / "make_icons.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resource_path_finds_the_checkout_files() -> None:
    assert resource_path("icons/desk.svg") == RESOURCES / "icons" / "desk.svg"
    assert resources.resources_root() == RESOURCES


@pytest.mark.parametrize("name", ["../pyproject.toml", "/etc/passwd", "icons/../../README.md"])
def test_resource_path_refuses_names_outside_resources(name: str) -> None:
    with pytest.raises(ValueError, match="relative and inside resources"):
        resource_path(name)


def test_missing_resource_names_the_file() -> None:
    with pytest.raises(FileNotFoundError, match=r"icons/nope\.svg"):
        resource_path("icons/nope.svg")


def test_bundle_directory_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    (tmp_path / "resources" / "icons" / "desk.svg").write_text("<svg/>")
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path), raising=False)
    assert resource_path("icons/desk.svg") == tmp_path / "resources" / "icons" / "desk.svg"


def test_no_resources_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(resources, "_candidate_roots", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(FileNotFoundError, match=r"resource files are missing \(looked in: .*a, .*b\)"):
        resources.resources_root()


@pytest.mark.parametrize("status", TRAY_STATUSES)
@pytest.mark.parametrize("theme", TRAY_THEMES)
def test_tray_icons_exist_at_every_size(status: str, theme: str) -> None:
    svg, *pngs = tray_icon_files(status, theme)
    assert svg.suffix == ".svg" and ET.parse(svg).getroot().tag.endswith("svg")
    assert [png_size(p.read_bytes()) for p in pngs] == [(s, s) for s in TRAY_SIZES]


def test_tray_icon_rejects_unknown_status_and_theme() -> None:
    with pytest.raises(ValueError, match="unknown tray status 'fine'"):
        tray_icon_files("fine")
    with pytest.raises(ValueError, match="unknown tray theme 'blue'"):
        tray_icon_files("ok", "blue")


def test_tray_statuses_differ_by_shape_not_only_colour() -> None:
    """Greyscale renders of the four statuses differ clearly (colour-blind users see shapes)."""
    from PySide6 import QtGui

    def grey_mask(path: Path) -> list[int]:
        image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_ARGB32)
        # pixel "ink": opaque and its luminance, quantised; hue is thrown away
        return [(image.pixelColor(x, y).alpha() > 128) * (image.pixelColor(x, y).lightness() // 64 + 1)
                for y in range(image.height()) for x in range(image.width())]

    for theme in TRAY_THEMES:
        masks = {s: grey_mask(resource_path(f"tray/{s}-{theme}-32.png")) for s in TRAY_STATUSES}
        for i, a in enumerate(TRAY_STATUSES):
            assert sum(masks[a]) > 0, f"{a}-{theme} renders empty"
            for b in TRAY_STATUSES[i + 1:]:
                differing = sum(x != y for x, y in zip(masks[a], masks[b], strict=True))
                assert differing > 60, f"{a} and {b} ({theme}) look alike in greyscale: {differing} px differ"


def test_app_icon_pngs_have_their_sizes() -> None:
    files = resources.app_icon_files()
    assert files[0] == RESOURCES / "icons" / "desk.svg"
    sizes = [png_size(p.read_bytes()) for p in files[1:]]
    assert sizes == [(s, s) for s in (16, 22, 24, 32, 48, 64, 128, 256, 512)]


def test_ico_has_every_size_as_png() -> None:
    data = (RESOURCES / "icons" / "desk.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    seen = []
    for i in range(count):
        w, h, _, _, planes, bpp, size, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        image = data[offset:offset + size]
        assert len(image) == size
        assert png_size(image) == (w or 256, h or 256)
        assert (planes, bpp) == (1, 32)
        seen.append(w or 256)
    assert seen == [16, 24, 32, 48, 64, 128, 256]


def test_icns_entries_are_pngs_of_their_type_size() -> None:
    expected = {b"icp4": 16, b"icp5": 32, b"icp6": 64, b"ic07": 128, b"ic08": 256, b"ic09": 512,
                b"ic10": 1024, b"ic11": 32, b"ic12": 64, b"ic13": 256, b"ic14": 512}
    data = (RESOURCES / "icons" / "desk.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    found, pos = {}, 8
    while pos < len(data):
        code, length = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        found[code] = png_size(data[pos + 8:pos + length])[0]
        pos += length
    assert pos == len(data)
    assert found == expected


def test_make_icons_writes_the_same_set_of_files(tmp_path: Path, qapp: object) -> None:
    """Re-rendering from the SVG masters gives the committed files' names and sizes.

    qapp: the suite's QApplication, so make_icons reuses it instead of creating its own.
    """
    make_icons = load_make_icons()
    assert make_icons.main(["--out", str(tmp_path)]) == 0
    fresh = sorted(p.relative_to(tmp_path / "resources") for p in (tmp_path / "resources").rglob("*.*"))
    committed = sorted(p.relative_to(RESOURCES) for p in RESOURCES.rglob("*.png"))
    committed += [Path("icons/desk.icns"), Path("icons/desk.ico")]
    assert fresh == sorted(committed)
    for rel in fresh:
        if rel.suffix == ".png":
            fresh_size = png_size((tmp_path / "resources" / rel).read_bytes())
            assert fresh_size == png_size((RESOURCES / rel).read_bytes()), rel
    assert png_size((tmp_path / "docs" / "icons-contact-sheet.png").read_bytes())[0] > 500


def _desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entries_launch_desk_with_the_app_icon() -> None:
    for path in (RESOURCES / f"{APP_ID}.desktop", RESOURCES / "autostart" / f"{APP_ID}.desktop"):
        entry = _desktop_entry(path)
        assert entry["Exec"] == "desk"
        assert entry["Icon"] == APP_ID
        assert entry["Type"] == "Application"


def test_metainfo_matches_the_package() -> None:
    root = ET.parse(RESOURCES / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"  # type: ignore[union-attr]
    assert root.find("releases/release").get("version") == desk.__version__  # type: ignore[union-attr]
    assert root.findtext("provides/binary") == "desk"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: apt-get install appstream desktop-file-utils"
    return path


@pytest.mark.integration
def test_desktop_files_validate() -> None:
    result = subprocess.run(
        [_tool("desktop-file-validate"), str(RESOURCES / f"{APP_ID}.desktop"),
         str(RESOURCES / "autostart" / f"{APP_ID}.desktop")],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.integration
def test_metainfo_validates_with_appstreamcli() -> None:
    # --no-net: the validator would otherwise try to reach the URLs; tests stay on loopback.
    result = subprocess.run(
        [_tool("appstreamcli"), "validate", "--no-net", "--no-color",
         str(RESOURCES / f"{APP_ID}.metainfo.xml")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Infos are allowed (bookworm's appstream 0.16 does not know <developer> yet); no warnings or errors.
    assert not any(line.startswith(("W:", "E:")) for line in result.stdout.splitlines()), result.stdout
