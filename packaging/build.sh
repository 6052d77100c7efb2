#!/usr/bin/env bash
# Build desk for Linux: the PyInstaller one-folder bundle, then a .deb that installs it under /opt/desk.
#
#   packaging/build.sh [--out DIR] [--no-deb] [--deb-compression xz|gzip|none] [--system-autostart]
#
#   --out DIR              put everything in DIR (default: dist/ in the repository):
#                          DIR/desk/ (the bundle) and DIR/desk_<version>_<arch>.deb; PyInstaller's
#                          work files go to DIR/.build/
#   --no-deb               stop after the bundle
#   --deb-compression C    dpkg-deb compression (default xz: smallest; none is fastest, for tests)
#   --system-autostart     also install the autostart entry to /etc/xdg/autostart, so desk starts at
#                          every login for every user. Without it the entry is shipped in
#                          /usr/share/desk/autostart/ for users to copy to ~/.config/autostart/.
#
# Environment: PYTHON (default: the repository's .venv/bin/python, else python3) must have desk and
# PyInstaller installed (pip install -e '.[test]'). DESK_DEB_MAINTAINER overrides the Maintainer field.
# Build on the oldest, leanest system you support: PyInstaller copies the build host's libraries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/dist"
MAKE_DEB=1
COMPRESSION=xz
SYSTEM_AUTOSTART=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --no-deb) MAKE_DEB=0; shift ;;
    --deb-compression) COMPRESSION="$2"; shift 2 ;;
    --system-autostart) SYSTEM_AUTOSTART=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$COMPRESSION" in xz|gzip|none) ;; *) echo "build.sh: --deb-compression must be xz, gzip or none" >&2; exit 2 ;; esac

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import PyInstaller, desk" 2>/dev/null; then
  echo "build.sh: $PYTHON lacks PyInstaller or desk; run: $PYTHON -m pip install -e '$ROOT[test]'" >&2
  exit 2
fi

APP_ID=io.github.desk.desk
VERSION="$("$PYTHON" -c 'import desk; print(desk.__version__)')"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

echo "build.sh: bundling desk $VERSION into $OUT/desk"
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$OUT" --workpath "$OUT/.build" "$ROOT/packaging/desk.spec"
echo "build.sh: bundle done in $(( $(date +%s) - start )) s, $(du -sh "$OUT/desk" | cut -f1)"

[ "$MAKE_DEB" = 1 ] || exit 0

ARCH="$(dpkg --print-architecture)"
DEB="$OUT/desk_${VERSION}_${ARCH}.deb"
STAGE="$OUT/.deb-root"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/metainfo" "$STAGE/usr/share/desk/autostart" "$STAGE/usr/share/doc/desk" \
  "$STAGE/usr/share/icons/hicolor/scalable/apps"

cp -a "$OUT/desk" "$STAGE/opt/desk"
# The bootloader finds its _internal/ through /proc/self/exe, so a symlink on PATH works.
ln -s /opt/desk/desk "$STAGE/usr/bin/desk"
install -m 644 "$ROOT/resources/$APP_ID.desktop" "$STAGE/usr/share/applications/"
install -m 644 "$ROOT/resources/$APP_ID.metainfo.xml" "$STAGE/usr/share/metainfo/"
install -m 644 "$ROOT/resources/autostart/$APP_ID.desktop" "$STAGE/usr/share/desk/autostart/"
if [ "$SYSTEM_AUTOSTART" = 1 ]; then
  install -D -m 644 "$ROOT/resources/autostart/$APP_ID.desktop" "$STAGE/etc/xdg/autostart/$APP_ID.desktop"
fi
install -m 644 "$ROOT/resources/icons/desk.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
for png in "$ROOT"/resources/icons/hicolor/*/apps/"$APP_ID".png; do
  size_dir="$(basename "$(dirname "$(dirname "$png")")")"
  install -D -m 644 "$png" "$STAGE/usr/share/icons/hicolor/$size_dir/apps/$APP_ID.png"
done
cat > "$STAGE/usr/share/doc/desk/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: desk
Files: *
Copyright: desk developers
License: MIT
Comment: /opt/desk/_internal holds Python, Qt (LGPL-3.0) and the other libraries desk runs on,
 each under its own licence.
EOF

# What Qt needs from the system (docs/packaging.md, ../shared/design/environment.md §2-§3):
# PyInstaller does not bundle libGL/libEGL/libxcb; fonts come with fontconfig-config.
DEPENDS="libc6 (>= 2.34), libgl1, libegl1, libfontconfig1, libfreetype6, libxkbcommon0, libxkbcommon-x11-0, \
libdbus-1-3, libglib2.0-0, libxcb1, libx11-xcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, \
libxcb-keysyms1, libxcb-render-util0, libxcb-render0, libxcb-shape0, libxcb-shm0, libxcb-sync1, \
libxcb-xfixes0, libxcb-randr0, libxcb-xkb1, libxcb-util1"
INSTALLED_KB="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
cat > "$STAGE/DEBIAN/control" <<EOF
Package: desk
Version: $VERSION
Architecture: $ARCH
Maintainer: ${DESK_DEB_MAINTAINER:-desk developers <desk@invalid>}
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Recommends: gnome-keyring | kwalletmanager | keepassxc
Section: misc
Priority: optional
Description: risk dashboard for crypto derivatives traders
 desk shows, for every open position, the margin ratio, the liquidation and
 bankruptcy prices and the distance to liquidation, and alerts before a
 position gets close. It reads positions with read-only API keys kept in the
 system keyring and never places orders.
 .
 The application is installed in /opt/desk; the desk command is on PATH.
EOF

echo "build.sh: packing $DEB ($COMPRESSION)"
start=$(date +%s)
dpkg-deb --build --root-owner-group -Z"$COMPRESSION" "$STAGE" "$DEB" >/dev/null
rm -rf "$STAGE"
echo "build.sh: .deb done in $(( $(date +%s) - start )) s, $(du -h "$DEB" | cut -f1): $DEB"
