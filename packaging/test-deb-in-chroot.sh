#!/usr/bin/env bash
# Install desk's .deb into a clean Debian 12 (bookworm) made with debootstrap, and run desk from it.
#
#   sudo packaging/test-deb-in-chroot.sh DESK.deb [CHROOT_DIR]
#
# Proves that the .deb's Depends are enough on a minimal system: apt installs them, then
# `desk --version` and `desk risk docs/examples/binance-faq.json` run offscreen inside the chroot.
# Needs root, debootstrap (apt-get install debootstrap) and access to a Debian mirror. The mirror is
# the one this machine's apt already uses (read from /etc/apt/sources.list*), so nothing is
# hard-coded. CHROOT_DIR (default: a new temporary directory) is kept when given, deleted otherwise;
# a kept bookworm base is reused, which saves the debootstrap step (about 1-3 minutes).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEB="${1:?usage: test-deb-in-chroot.sh DESK.deb [CHROOT_DIR]}"
DEB="$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")"
[ -f "$DEB" ] || { echo "test-deb-in-chroot: no such file: $DEB" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "test-deb-in-chroot: run as root (debootstrap and chroot need it)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "test-deb-in-chroot: apt-get install debootstrap" >&2; exit 2; }

KEEP=1
if [ -n "${2:-}" ]; then TARGET="$2"; mkdir -p "$TARGET"; else TARGET="$(mktemp -d)"; KEEP=0; fi
TARGET="$(cd "$TARGET" && pwd)"

# The Debian mirror apt uses here: the first URI of a Debian main archive (not security) in either
# the deb822 (.sources) or the one-line (.list) format.
mirror_from_apt() {
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sources) grep -E '^URIs:' "$f" | awk '{for (i = 2; i <= NF; i++) print $i}' ;;
      *) grep -E '^deb ' "$f" | sed -E 's/\[[^]]*\]//' | awk '{print $2}' ;;
    esac
  done | grep -v -- '-security' | grep -E '^(https?|file)://' | head -n 1
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_from_apt)}"
[ -n "$MIRROR" ] || { echo "test-deb-in-chroot: no Debian mirror in /etc/apt/sources.list*; set DEBIAN_MIRROR" >&2; exit 2; }

MOUNTED=()
cleanup() {
  for m in "${MOUNTED[@]}"; do umount -l "$m" 2>/dev/null || true; done
  if [ "$KEEP" = 0 ]; then rm -rf --one-file-system "$TARGET"; fi
}
trap cleanup EXIT

if [ ! -x "$TARGET/usr/bin/apt-get" ]; then
  echo "test-deb-in-chroot: debootstrap --variant=minbase bookworm $TARGET $MIRROR"
  start=$(date +%s)
  debootstrap --variant=minbase bookworm "$TARGET" "$MIRROR" >"$TARGET.debootstrap.log" 2>&1 || {
    tail -20 "$TARGET.debootstrap.log" >&2; exit 1; }
  echo "test-deb-in-chroot: base system in $(( $(date +%s) - start )) s"
fi

mount -t proc proc "$TARGET/proc"; MOUNTED+=("$TARGET/proc")
cp /etc/resolv.conf "$TARGET/etc/resolv.conf" 2>/dev/null || true
cp "$DEB" "$TARGET/tmp/desk.deb"
cp "$ROOT/docs/examples/binance-faq.json" "$TARGET/tmp/binance-faq.json"

in_chroot() { chroot "$TARGET" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

echo "test-deb-in-chroot: apt-get install ./desk.deb"
start=$(date +%s)
in_chroot apt-get update -qq
# --reinstall: a reused chroot may already have this version installed
in_chroot apt-get install -y -qq --reinstall --no-install-recommends /tmp/desk.deb >/dev/null
echo "test-deb-in-chroot: installed in $(( $(date +%s) - start )) s"

in_chroot test -L /usr/bin/desk
in_chroot test -f /usr/share/applications/io.github.desk.desk.desktop
echo "test-deb-in-chroot: desk --version"
in_chroot env QT_QPA_PLATFORM=offscreen DESK_HOME=/tmp/desk-home desk --version
echo "test-deb-in-chroot: desk risk /tmp/binance-faq.json"
in_chroot env QT_QPA_PLATFORM=offscreen DESK_HOME=/tmp/desk-home COLUMNS=160 desk risk /tmp/binance-faq.json
# The dashboard must start in the clean system (Qt, its plugins and the system libraries it needs):
# it is still running after 10 s (exit 124 from timeout) or it quit cleanly.
echo "test-deb-in-chroot: desk --demo (dashboard, offscreen, 10 s)"
set +e
in_chroot env QT_QPA_PLATFORM=offscreen DESK_HOME=/tmp/desk-home timeout 10 desk --demo
rc=$?
set -e
case "$rc" in
  0|124) echo "test-deb-in-chroot: dashboard started" ;;
  *) echo "test-deb-in-chroot: the dashboard failed to start (exit $rc)" >&2; exit 1 ;;
esac
echo "test-deb-in-chroot: OK"
