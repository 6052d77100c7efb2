"""``desk risk FILE``: margin ratio, liquidation and bankruptcy prices for a portfolio file.

Readable table (worst first, colours on a terminal unless NO_COLOR is set) or ``--json``
(``desk.risk/1``). What-if flags change the inputs first: ``--mark SYMBOL=PRICE`` (repeatable),
``--shock PCT`` (signed percent), and ``--target R`` adds suggestions where the ratio is worse.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, TextIO

from desk.cli import UserError

ORDER = 10


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "risk",
        help="risk of a portfolio file: margin ratio, liquidation and bankruptcy prices, what-ifs",
        description=(
            "Compute margin ratio, liquidation price, bankruptcy price and distance to liquidation for "
            "every position of a desk.portfolio/1 file, the ratio of each cross-margin pool, and the "
            "uniform move of all marks that would liquidate each account. Margin ratio is maintenance "
            "margin ÷ margin balance on every venue: 1.0 means liquidation."
        ),
        epilog="Exit codes: 0 ok, 2 invalid input, 1 internal error.",
    )
    parser.add_argument("file", metavar="FILE", help="a desk.portfolio/1 JSON file (see docs/examples/)")
    parser.add_argument("--json", action="store_true", help="print the desk.risk/1 JSON report")
    parser.add_argument("--mark", action="append", default=[], metavar="SYMBOL=PRICE",
                        help="what-if: set the mark price of SYMBOL in every account (repeatable)")
    parser.add_argument("--shock", type=str, metavar="PCT",
                        help="what-if: move every mark by PCT percent (signed: -5 = 5%% down)")
    parser.add_argument("--target", type=str, metavar="R",
                        help="suggest the smallest margin addition, size reduction or leverage that brings "
                             "each position and pool worse than margin ratio R to R (e.g. 0.5)")
    parser.set_defaults(handler=run)


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{what} must be a finite number, got {text!r}")
    return value


def _marks(items: list[str]) -> dict[str, float]:
    marks: dict[str, float] = {}
    for item in items:
        symbol, sep, price = item.rpartition("=")
        if not sep or not symbol.strip():
            raise UserError(f"--mark expects SYMBOL=PRICE (e.g. --mark BTC/USDT:USDT=60000), got {item!r}")
        value = _number(price.strip(), f"the --mark price of {symbol.strip()}")
        if value <= 0:
            raise UserError(f"the --mark price of {symbol.strip()} must be > 0, got {price.strip()}")
        marks[symbol.strip()] = value
    return marks


def run(args: argparse.Namespace) -> int:
    from desk.domain.engine import compute_risk
    from desk.domain.scenario import apply_what_if
    from desk.formats import PortfolioError, encode_report, load_portfolio

    marks = _marks(args.mark)
    shock = None
    if args.shock is not None:
        pct = _number(args.shock, "--shock")
        if pct <= -100:
            raise UserError(f"--shock must be above -100 (percent), got {args.shock}")
        shock = pct / 100.0
    target = None
    if args.target is not None:
        target = _number(args.target, "--target")
        if target <= 0:
            raise UserError(f"--target must be a margin ratio above 0 (1.0 = liquidation), got {args.target}")
    try:
        portfolio = load_portfolio(args.file)
    except PortfolioError as exc:
        raise UserError(str(exc)) from None
    try:
        portfolio = apply_what_if(portfolio, marks=marks, shock=shock)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    report = compute_risk(portfolio, target=target)
    what_if: dict[str, Any] = {"marks": marks, "shock": shock, "target": target}
    if args.json:
        sys.stdout.buffer.write(encode_report(report, what_if=what_if))
        sys.stdout.flush()
    else:
        print_report(report, what_if, sys.stdout)
    return 0


# ---------------------------------------------------------------------------- table


def _use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def fmt_price(x: float | None, tick: float | None = None) -> str:
    if x is None:
        return "none"
    if tick:
        decimals = max(0, -math.floor(math.log10(tick) + 1e-9))
        return f"{x:,.{decimals}f}"
    if abs(x) >= 1000:
        return f"{x:,.2f}"
    if abs(x) >= 1:
        return f"{x:,.4f}"
    return f"{x:.8g}"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "-"
    if math.isinf(r):
        return "inf (no margin left)"
    return f"{r:.4f}"


def fmt_amount(x: float) -> str:
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.8g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def _shock(x: float | None) -> str:
    if x is None:
        return "no liquidation within ±99% of all marks"
    if x == 0:
        return "already at or past liquidation"
    direction = "down" if x < 0 else "up"
    return f"{abs(x) * 100:.2f}% {direction} (all marks)"


def _suggestion_text(s: Any) -> str:
    if not s.reaches_target:
        return f"{s.action.replace('_', ' ')}: cannot reach the target — {s.reason}"
    if s.action == "add_margin":
        return f"add {fmt_amount(s.amount)} {s.currency} of margin"
    if s.action == "reduce_size":
        if s.contracts is None:
            return f"reduce every position by {s.fraction * 100:.2f}%"
        return f"reduce by {s.contracts:.8g} contracts ({s.fraction * 100:.2f}%)"
    return f"set leverage to {s.leverage:g}x"


def print_report(report: Any, what_if: dict[str, Any], out: TextIO) -> None:
    colour = _use_colour(out)

    def paint(text: str, ratio: float | None) -> str:
        if not colour or ratio is None:
            return text
        code = "31;1" if ratio >= 1.0 else "33" if ratio >= 0.7 else "32"
        return f"\033[{code}m{text}\033[0m"

    applied = []
    for symbol, price in what_if.get("marks", {}).items():
        applied.append(f"mark {symbol} = {fmt_price(price)}")
    if what_if.get("shock") is not None:
        applied.append(f"shock {what_if['shock'] * 100:+g}%")
    if what_if.get("target") is not None:
        applied.append(f"target ratio {what_if['target']:g}")
    if applied:
        out.write("what-if: " + "; ".join(applied) + "\n\n")

    headers = ["account", "symbol", "side", "mode", "size", "mark", "liq (ours)", "liq (exchange)",
               "bankruptcy", "distance", "margin ratio"]
    rows: list[tuple[list[str], float | None]] = []

    def badness(p: Any) -> tuple[float, float]:
        ratio = -1.0 if p.margin_ratio is None else p.margin_ratio
        dist = math.inf if p.distance_to_liquidation is None else p.distance_to_liquidation
        return (-ratio, dist)

    for p in sorted(report.positions(), key=badness):
        side = p.side if p.leg == "both" else f"{p.side} (hedge)"
        tick = p.tick_size
        theirs = p.reported_liquidation_price
        rows.append(([
            p.account, p.symbol, side, p.margin_mode, f"{p.contracts:.8g}", fmt_price(p.mark_price, tick),
            fmt_price(p.liquidation_price, tick),
            "-" if theirs is None else fmt_price(theirs, tick),
            fmt_price(p.bankruptcy_price, p.tick_size), _pct(p.distance_to_liquidation),
            fmt_ratio(p.margin_ratio),
        ], p.margin_ratio))
    widths = [max([len(h)] + [len(r[0][i]) for r in rows]) for i, h in enumerate(headers)]
    numeric = {4, 5, 6, 7, 8, 9, 10}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out.write(line(headers) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for cells, ratio in rows:
        text = line(cells)
        out.write(paint(text, ratio) + "\n")
    if not rows:
        out.write("(no positions)\n")

    for acc in report.accounts:
        rule = "generic rules: venue not known to desk" if acc.generic_rules else f"{acc.rules} rules"
        out.write(f"\n{acc.name} ({acc.venue}, {rule})\n")
        for pool in acc.pools:
            if getattr(pool, "pool", "settle") == "account":
                _write_account_pool(pool, out, paint)
                continue
            venue = ""
            if pool.venue_margin_ratio is not None and pool.venue_margin_ratio != pool.margin_ratio:
                venue = f" (venue's own ratio {fmt_ratio(pool.venue_margin_ratio)})"
            text = (f"  pool {pool.settle}: wallet {fmt_amount(pool.wallet_balance)}, unrealized PnL "
                    f"{fmt_amount(pool.unrealized_pnl)}, margin balance {fmt_amount(pool.margin_balance)}, "
                    f"maintenance {fmt_amount(pool.maintenance_margin)}, margin ratio "
                    f"{fmt_ratio(pool.margin_ratio)}{venue}")
            out.write(paint(text, pool.margin_ratio) + "\n")
            for s in pool.suggestions:
                out.write(f"    suggestion: {_suggestion_text(s)}\n")
        if any(getattr(pool, "cannot_recompute", None) for pool in acc.pools):
            out.write("  shock to liquidation: cannot recompute for this account mode\n")
        else:
            out.write(f"  shock to liquidation: {_shock(acc.shock_to_liquidation)}\n")
        for p in acc.positions:
            if p.suggestions:
                out.write(f"  {p.symbol} ({p.leg if p.leg != 'both' else p.side}, {p.margin_mode}):\n")
                for s in p.suggestions:
                    out.write(f"    suggestion: {_suggestion_text(s)}\n")
        for w in acc.warnings:
            out.write(f"  warning: {w}\n")


def _write_account_pool(pool: Any, out: TextIO, paint: Any) -> None:
    """One margin pool for the whole account (unified-margin.md §0): its mode and its collateral."""
    k = f", liquidation at {pool.threshold:g}×MM" if pool.threshold != 1.0 else ""
    out.write(f"  mode: {pool.mode or 'unnamed'} (one margin pool for the account, "
              f"valued in {pool.settle}{k})\n")
    venue = "" if pool.venue_margin_ratio is None else \
        f" (venue's own ratio {fmt_ratio(pool.venue_margin_ratio)})"
    if pool.cannot_recompute is not None:
        text = (f"  pool {pool.settle}: cannot recompute: {pool.cannot_recompute}; margin ratio "
                f"{fmt_ratio(pool.margin_ratio)} from the venue's own figure{venue}")
    else:
        text = (f"  pool {pool.settle}: total equity {fmt_amount(pool.total_equity)}, margin balance "
                f"{fmt_amount(pool.margin_balance)} after haircuts, maintenance "
                f"{fmt_amount(pool.maintenance_margin)}, margin ratio {fmt_ratio(pool.margin_ratio)}{venue}")
    out.write(paint(text, pool.margin_ratio) + "\n")
    for c in pool.collateral:
        held = f"    collateral {c.asset}: {c.amount:.8g} at {fmt_price(c.price)}"
        if c.value is not None and c.value == c.value:  # NaN where the mode cannot be recomputed
            held += (f", equity {c.equity:.8g}, haircut {c.haircut * 100:.4g}%, counts "
                     f"{fmt_amount(c.value)} {pool.settle}")
        out.write(held + "\n")
    for s in pool.suggestions:
        out.write(f"    suggestion: {_suggestion_text(s)}\n")

