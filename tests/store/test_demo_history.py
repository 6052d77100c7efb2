"""Issue 15: the demo's history is one file, named in one place, that every command finds.

`desk watch --demo` writes it; `desk config path` lists it; `desk export history --demo` exports it
(and plain `desk export history` keeps to the user's own accounts).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def desk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_export_demo_history_and_config_path(subprocess_env: dict[str, str]) -> None:
    assert desk(subprocess_env, "config", "set", "history.sample_seconds", "1").returncode == 0
    where = json.loads(desk(subprocess_env, "config", "path", "--json").stdout)
    demo_db = Path(where["history-demo"])
    assert demo_db.parent == Path(where["data"]) and demo_db != Path(where["history"])
    plain = desk(subprocess_env, "config", "path").stdout
    assert f"history-demo  {demo_db}" in plain

    watch = subprocess.Popen(
        [sys.executable, "-m", "desk", "watch", "--demo", "--speed", "10", "--json-lines", "--no-alerts"],
        cwd=ROOT, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert watch.stdout is not None
    snapshots = 0
    for line in watch.stdout:  # three snapshots a second or more apart: two samples at least
        if json.loads(line)["type"] == "snapshot":
            snapshots += 1
            if snapshots == 1:
                first = json.loads(line)["at"]
            elif json.loads(line)["at"] - first > 2.5:
                break
    watch.send_signal(signal.SIGINT)
    watch.communicate(timeout=30)
    assert watch.returncode == 0

    assert demo_db.exists() and not Path(where["history"]).exists()
    conn = sqlite3.connect(demo_db)
    stored = conn.execute("SELECT count(*), count(DISTINCT at) FROM "
                          "(SELECT at FROM samples UNION ALL SELECT at FROM recent_samples)").fetchone()
    conn.close()
    assert stored[0] > 0 and stored[1] >= 2

    exported = desk(subprocess_env, "export", "history", "--demo", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    rows = json.loads(exported.stdout)
    assert len(rows) == stored[0]
    accounts = {r["account"] for r in rows}
    assert "demo-binance-usdm" in accounts and all(a.startswith("demo-") for a in accounts)
    assert {r["kind"] for r in rows} == {"account", "pool", "position"}

    own = desk(subprocess_env, "export", "history", "--format", "json")
    assert own.returncode == 0 and json.loads(own.stdout) == []
    assert "no history yet" in own.stderr
