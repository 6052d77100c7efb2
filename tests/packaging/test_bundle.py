"""The frozen app: packaging/build.sh builds the PyInstaller bundle and the .deb; desk runs from it.

One build per test session (about 40-60 s on two cores), into a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import desk
from desk.cli import command_modules
from desk.resources import APP_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class Build:
    def __init__(self, out: Path, seconds: float) -> None:
        self.out = out
        self.seconds = seconds
        self.bundle = out / "desk"
        self.exe = out / "desk" / "desk"
        debs = sorted(out.glob("desk_*.deb"))
        assert len(debs) == 1, f"expected one .deb in {out}, found {debs}"
        self.deb = debs[0]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    out = tmp_path_factory.mktemp("build")
    env = {**os.environ, "PYTHON": sys.executable}
    start = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build.sh"), "--out", str(out), "--deb-compression", "none"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 0, f"build.sh failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    built = Build(out, time.monotonic() - start)
    print(f"\nbuild.sh took {built.seconds:.0f} s")  # shown with -s; the figure for the suite's budget
    return built


def run_frozen(build: Build, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(build.exe), *args], capture_output=True, text=True, env=env, timeout=120,
                          cwd=ROOT)


def test_frozen_version(build: Build, subprocess_env: dict[str, str]) -> None:
    result = run_frozen(build, {**subprocess_env, "QT_QPA_PLATFORM": "offscreen"}, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"desk {desk.__version__}"


def test_frozen_help_equals_source_help(build: Build, subprocess_env: dict[str, str]) -> None:
    """Subcommands are discovered with pkgutil: the frozen app must find the same ones as the source."""
    env = {**subprocess_env, "COLUMNS": "200"}
    frozen = run_frozen(build, env, "--help")
    source = subprocess.run([sys.executable, "-m", "desk", "--help"], capture_output=True, text=True,
                            env=env, timeout=60, cwd=ROOT)
    assert frozen.returncode == 0, frozen.stderr
    assert source.returncode == 0, source.stderr
    assert command_modules(), "no subcommands in the source tree"
    assert frozen.stdout == source.stdout


def test_bundle_carries_resources_and_leaves_out_the_gtk_stack(build: Build) -> None:
    internal = build.bundle / "_internal"
    assert (internal / "resources" / "icons" / "desk.svg").is_file()
    assert len(list((internal / "resources" / "tray").glob("*.png"))) == 4 * 2 * 6
    # Help → Documentation (F1) opens this copy: the bundle has no source tree around it
    readme = internal / "resources" / "doc" / "README.md"
    assert readme.read_bytes() == (Path(__file__).resolve().parents[2] / "README.md").read_bytes()
    names = {p.name for p in internal.rglob("*.so*")}
    assert not {n for n in names if n.startswith(("libgtk-3", "libgdk-3", "libqgtk3"))}, sorted(names)
    # the Qt modules desk uses are in, the excluded ones are out
    assert (internal / "PySide6" / "QtWidgets.abi3.so").is_file()
    assert not (internal / "PySide6" / "QtQml.abi3.so").exists()


def test_deb_metadata_and_depends(build: Build) -> None:
    info = subprocess.run(["dpkg-deb", "--info", str(build.deb)], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    fields = dict(re.findall(r"^ (\S+): (.*)$", info, flags=re.MULTILINE))
    assert fields["Package"] == "desk"
    assert fields["Version"] == desk.__version__
    depends = {d.strip().split(" ")[0] for d in fields["Depends"].split(",")}
    needed = {"libgl1", "libegl1", "libfontconfig1", "libxkbcommon0", "libxkbcommon-x11-0", "libdbus-1-3",
              "libglib2.0-0", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
              "libxcb-render-util0", "libxcb-shape0"}
    assert needed <= depends, f"missing from Depends: {sorted(needed - depends)}"


def test_deb_contents(build: Build) -> None:
    listing = subprocess.run(["dpkg-deb", "--contents", str(build.deb)], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    paths = {line.split()[5]: line for line in listing.splitlines()}
    assert "./opt/desk/desk" in paths
    assert paths["./opt/desk/desk"].startswith("-rwx")
    assert "root/root" in paths["./opt/desk/desk"]
    assert paths["./usr/bin/desk"].split()[-1] == "/opt/desk/desk"  # symlink on PATH
    assert f"./usr/share/applications/{APP_ID}.desktop" in paths
    assert f"./usr/share/metainfo/{APP_ID}.metainfo.xml" in paths
    assert f"./usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg" in paths
    for size in (16, 32, 48, 128, 256, 512):
        assert f"./usr/share/icons/hicolor/{size}x{size}/apps/{APP_ID}.png" in paths
    assert f"./usr/share/desk/autostart/{APP_ID}.desktop" in paths
    assert not any(p.startswith("./etc/xdg/autostart") for p in paths), "autostart is opt-in"
    assert not any(p.startswith("./home") or p.startswith("./root") for p in paths)


@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["table", "json"])
def test_frozen_risk_matches_the_source(
    build: Build, subprocess_env: dict[str, str], extra: list[str]
) -> None:
    """`desk risk` on the Binance FAQ example gives the same output frozen as from the source."""
    example = str(ROOT / "docs" / "examples" / "binance-faq.json")
    env = {**subprocess_env, "COLUMNS": "200", "QT_QPA_PLATFORM": "offscreen"}
    frozen = run_frozen(build, env, "risk", *extra, example)
    source = subprocess.run([sys.executable, "-m", "desk", "risk", *extra, example], capture_output=True,
                            text=True, env=env, timeout=120, cwd=ROOT)
    assert frozen.returncode == 0, frozen.stderr
    assert source.returncode == 0, source.stderr
    assert "ETH/USDT:USDT" in frozen.stdout
    assert frozen.stdout == source.stdout


def test_frozen_dashboard_shows_numbers(build: Build, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    """`desk --demo` from the bundle opens the window (offscreen) and fills the table: Qt, its
    plugins, pyqtgraph and the demo venue all made it into the bundle."""
    report = tmp_path / "report.json"
    env = {**subprocess_env, "QT_QPA_PLATFORM": "offscreen", "DESK_TEST_REPORT": str(report)}
    proc = subprocess.Popen([str(build.exe), "--demo"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not report.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert report.exists(), f"no report within 60 s (exit {proc.returncode}):\n{output[-3000:]}"
    data = json.loads(report.read_text())
    assert data["demo"] is True
    assert data["rows"] > 0
    assert "Traceback" not in output
