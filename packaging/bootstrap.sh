#!/usr/bin/env bash
# desk's two entry points for a clean clone on Debian/Ubuntu (the README's Quick start):
#
#   bash packaging/bootstrap.sh run    set everything up, open the dashboard on the demo venue
#   bash packaging/bootstrap.sh test   set everything up, run the whole test suite
#
# Idempotent: system packages through apt only when missing (as root or with sudo; otherwise
# it prints the exact apt line and stops), a virtualenv in .venv, the project installed in it
# (reinstalled only when pyproject.toml changed).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
MODE="${1:-}"
shift || true

case "$MODE" in
  run|test) ;;
  *) echo "usage: bash packaging/bootstrap.sh run|test [args...]" >&2; exit 2 ;;
esac

say() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------------------------
# Qt's runtime libraries and fonts (design/environment.md §2, §3), the virtual X server, and the
# real integration parts the tests use: a private D-Bus, dunst, gnome-keyring, a tray host.
RUNTIME_PKGS=(libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0
  libxkbcommon-x11-0)
TEST_PKGS=(xvfb xauth dbus dunst gnome-keyring libsecret-tools trayer x11-utils xdotool appstream
  desktop-file-utils binutils)
PKGS=("${RUNTIME_PKGS[@]}")
[ "$MODE" = test ] && PKGS+=("${TEST_PKGS[@]}")
[ "$MODE" = run ] && PKGS+=(dbus)
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then PKGS+=(python3-venv); fi
command -v python3 >/dev/null 2>&1 || PKGS+=(python3 python3-venv)
# PyInstaller (packaging/build.sh, tests/packaging) needs the interpreter's shared library, which
# Debian/Ubuntu ship apart from python3 (libpython3.X); a pyenv or self-built Python carries its own.
if [ "$(command -v python3 || true)" = /usr/bin/python3 ]; then
  PKGS+=("libpython$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
else
  say "not a Debian/Ubuntu system: install the equivalents of: ${PKGS[*]}"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  APT_LINE="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo)
  else
    say "these system packages are missing: ${missing[*]}"
    say "install them, then run this command again:"
    echo "    sudo apt-get update && sudo $APT_LINE" >&2
    exit 1
  fi
  say "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- virtualenv and the project ----------------------------------------------------------------
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x .venv/bin/python ]; then
  say "creating the virtualenv in .venv"
  python3 -m venv .venv
fi
EXTRAS="test"
STAMP=".venv/.desk-installed"
WANT="$(cat pyproject.toml | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] || ! .venv/bin/python -c 'import desk' 2>/dev/null; then
  say "installing desk and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
  echo "$WANT" > "$STAMP"
fi

# --- the job -----------------------------------------------------------------------------------
if [ "$MODE" = run ]; then
  if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    say "no display found (DISPLAY is unset): running the headless monitor on the demo venue instead."
    say "open the window from a desktop session with: .venv/bin/desk --demo"
    exec .venv/bin/desk watch --demo "$@"
  fi
  exec .venv/bin/desk --demo "$@"
fi

# test: headless (pytest-xvfb starts Xvfb itself) inside a private D-Bus session, so no test
# can reach the user's desktop bus, keyring or notification server.
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM DBUS_SESSION_BUS_ADDRESS
set +e
dbus-run-session -- .venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  say "pytest collected no tests: that is a failure"
  exit 1
fi
exit "$rc"
