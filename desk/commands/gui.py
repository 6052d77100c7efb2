"""The dashboard: `desk` and `desk --demo [--scenario S --speed X --seed N]`.

Called by :func:`desk.cli._default_action` (no ``register``: the dashboard is the default
action, not a subcommand). Qt is imported inside :func:`run`, so other commands stay light.
"""

from __future__ import annotations

import argparse
import os
import time

from desk.commands._support import UserError
from desk.sanitize import quoted

_PROCESS_START = time.time()


def run(args: argparse.Namespace) -> int:
    demo = bool(getattr(args, "demo", False))
    scenario = getattr(args, "demo_scenario", None)
    speed = getattr(args, "demo_speed", None)
    seed = getattr(args, "demo_seed", None)
    if not demo and (scenario is not None or speed is not None or seed is not None):
        raise UserError("--scenario, --speed and --seed choose how the demo venue behaves; "
                        "add --demo (e.g. `desk --demo --scenario flash-crash --speed 20`)")
    if scenario is not None:
        from desk.exchanges.demo.scenarios import SCENARIOS

        if scenario not in SCENARIOS:
            raise UserError(f"unknown demo scenario {quoted(scenario)}; "
                            f"choose one of: {', '.join(SCENARIOS)}")
    if speed is not None and not (0 < speed <= 10_000):
        raise UserError(f"--speed {speed:g} is out of range; use a factor above 0 and up to 10000 (e.g. 20)")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and not os.environ.get("QT_QPA_PLATFORM"):
        raise UserError("no display to open the dashboard on (DISPLAY is not set); run `desk watch` "
                        "for the monitor and alerts without a window")

    from desk.ui.app import GuiOptions
    from desk.ui.app import run as run_app

    started = float(os.environ.get("DESK_T0", "") or _PROCESS_START)
    return run_app(GuiOptions(demo=demo, scenario=scenario or "calm", seed=seed,
                              speed=speed if speed is not None else 1.0, started_at=started))
