"""Render desk's icons from the SVG masters in resources/ (run after editing an SVG; commit the output).

    .venv/bin/python packaging/make_icons.py            # writes into resources/ and docs/
    .venv/bin/python packaging/make_icons.py --out DIR  # writes into DIR instead (tests)

Writes:
- resources/icons/hicolor/<N>x<N>/apps/<app id>.png for the freedesktop icon theme sizes;
- resources/icons/desk.ico (Windows; PNG-compressed entries, valid since Windows Vista);
- resources/icons/desk.icns (macOS; PNG-based entries);
- resources/tray/<status>-<theme>-<N>.png for every tray status, panel theme and tray size;
- docs/icons-contact-sheet.png: everything on light and dark backgrounds, for review.

Rendering uses PySide6's QtSvg (already a dependency); .ico and .icns are written with the
standard library.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "io.github.desk.desk"
APP_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
SMALL_SIZES = (16, 22, 24)  # rendered from desk-small.svg, drawn on a 16 px grid
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# (icns type code, pixel size): the PNG-based types macOS reads; ic10 is 512@2x.
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512),
    (b"ic10", 1024), (b"ic11", 32), (b"ic12", 64), (b"ic13", 256), (b"ic14", 512),
)
TRAY_STATUSES = ("ok", "warning", "critical", "stale")
TRAY_THEMES = ("light", "dark")
TRAY_SIZES = (16, 22, 24, 32, 48, 64)


def _qt():
    """Qt modules and an application object: the running one (tests), else an offscreen one."""
    from PySide6 import QtCore, QtGui, QtSvg

    app = QtGui.QGuiApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed to render
        app = QtGui.QGuiApplication(sys.argv[:1])
    return app, QtCore, QtGui, QtSvg


def render_png(svg: Path, size: int) -> bytes:
    """The SVG rendered to a size x size RGBA PNG."""
    _, QtCore, QtGui, QtSvg = _qt()
    renderer = QtSvg.QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not a valid SVG")
    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QtCore.QRectF(0, 0, size, size))
    painter.end()
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico: ICONDIR, one ICONDIRENTRY per size, then the PNG images."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, images = b"", b""
    for size in sizes:
        data = pngs[size]
        edge = 0 if size >= 256 else size  # 0 means 256 in the one-byte width/height fields
        entries += struct.pack("<BBBBHHII", edge, edge, 0, 0, 1, 32, len(data), offset)
        images += data
        offset += len(data)
    return header + entries + images


def icns_bytes(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A macOS .icns: 'icns' + total length, then (type, length incl. 8-byte header, PNG) blocks."""
    body = b"".join(code + struct.pack(">I", 8 + len(data)) + data for code, data in entries)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def contact_sheet(app_pngs: dict[int, Path], tray_pngs: dict[tuple[str, str, int], Path], out: Path) -> None:
    """One PNG showing every rendered icon at 1:1 on a light and a dark panel colour."""
    _, _, QtGui, _ = _qt()
    pad, width = 16, 2 * 520
    tray_rows = len(TRAY_STATUSES) * len(TRAY_THEMES)
    height = pad * 3 + 128 + 256 + tray_rows * (64 + pad) + pad
    sheet = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32)
    sheet.fill(QtGui.QColor("#FFFFFF"))
    painter = QtGui.QPainter(sheet)
    half = width // 2
    painter.fillRect(half, 0, half, height, QtGui.QColor("#202124"))
    for left in (0, half):
        x = left + pad
        for size in APP_SIZES[:-2]:  # 16 to 128 in a row, 256 below; 512 is the same drawing
            painter.drawImage(x, pad, QtGui.QImage(str(app_pngs[size])))
            x += size + pad
        painter.drawImage(left + pad, pad * 2 + 128, QtGui.QImage(str(app_pngs[256])))
    y = pad * 3 + 128 + 256
    for theme in TRAY_THEMES:
        for status in TRAY_STATUSES:
            for left, panel in ((0, "light"), (half, "dark")):
                x = left + pad
                for size in TRAY_SIZES:
                    painter.drawImage(x, y, QtGui.QImage(str(tray_pngs[(status, theme, size)])))
                    x += size + pad
                if panel == theme:  # mark the panel each variant is meant for
                    painter.fillRect(left + 4, y, 4, 64, QtGui.QColor("#0072B2"))
            y += 64 + pad
    painter.end()
    sheet.save(str(out), "PNG")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write here instead of the repository (resources/, docs/)")
    args = parser.parse_args(argv)
    resources_out = (args.out / "resources") if args.out else ROOT / "resources"
    docs_out = (args.out / "docs") if args.out else ROOT / "docs"
    master = ROOT / "resources" / "icons" / "desk.svg"
    small_master = ROOT / "resources" / "icons" / "desk-small.svg"

    app_pngs: dict[int, Path] = {}
    rendered = {size: render_png(small_master if size in SMALL_SIZES else master, size)
                for size in {*APP_SIZES, 1024}}
    for size in APP_SIZES:
        path = resources_out / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rendered[size])
        app_pngs[size] = path
    (resources_out / "icons" / "desk.ico").write_bytes(ico_bytes({s: rendered[s] for s in ICO_SIZES}))
    (resources_out / "icons" / "desk.icns").write_bytes(
        icns_bytes([(code, rendered[size]) for code, size in ICNS_TYPES]))

    tray_pngs: dict[tuple[str, str, int], Path] = {}
    (resources_out / "tray").mkdir(parents=True, exist_ok=True)
    for status in TRAY_STATUSES:
        for theme in TRAY_THEMES:
            svg = ROOT / "resources" / "tray" / f"{status}-{theme}.svg"
            for size in TRAY_SIZES:
                path = resources_out / "tray" / f"{status}-{theme}-{size}.png"
                path.write_bytes(render_png(svg, size))
                tray_pngs[(status, theme, size)] = path

    docs_out.mkdir(parents=True, exist_ok=True)
    contact_sheet(app_pngs, tray_pngs, docs_out / "icons-contact-sheet.png")
    print(f"make_icons: wrote {len(app_pngs)} app icon sizes, desk.ico, desk.icns, "
          f"{len(tray_pngs)} tray icons and the contact sheet under {resources_out.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
