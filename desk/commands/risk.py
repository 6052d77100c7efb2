"""``desk risk FILE``: margin ratio, liquidation and bankruptcy prices for a portfolio file.

Readable table (worst first, colours on a terminal unless NO_COLOR is set) or ``--json``
(``desk.risk/1``). What-if flags change the inputs first: ``--mark SYMBOL=PRICE`` (repeatable),
``--shock PCT`` (signed percent), and ``--target R`` adds suggestions where the ratio is worse.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import time
from typing import Any, TextIO

from desk.collector import collector_paused
from desk.commands._support import UserError
from desk.domain import display
from desk.domain.protection import loss_text, verdict_text
from desk.domain.report import at_or_past_liquidation


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "risk",
        description=(
            "Compute margin ratio, liquidation price, bankruptcy price and distance to liquidation for "
            "every position of a desk.portfolio/1 file, the ratio of each cross-margin pool, and the "
            "uniform move of all marks that would liquidate each account. Margin ratio is maintenance "
            "margin ÷ margin balance on every venue: 1.0 means liquidation."
        ),
        epilog="Exit codes: 0 ok, 2 invalid input, 1 internal error.",
    )
    parser.add_argument("file", metavar="FILE",
                        help="a desk.portfolio JSON file (version 1 or 2; see docs/examples/)")
    parser.add_argument("--json", action="store_true",
                        help="print the desk.risk/1 JSON report: indented on a terminal, compact (one line) "
                             "when piped or redirected, as scripts read it")
    parser.add_argument("--pretty", action="store_true",
                        help="with --json: indent the report wherever it goes (e.g. into a file to read)")
    parser.add_argument("--mark", action="append", default=[], metavar="SYMBOL=PRICE",
                        help="what-if: set the mark price of SYMBOL in every account (repeatable)")
    parser.add_argument("--shock", type=str, metavar="PCT",
                        help="what-if: move every mark by PCT percent (signed: -5 = 5%% down)")
    parser.add_argument("--target", type=str, metavar="R",
                        help="suggest the smallest margin addition, size reduction or leverage that brings "
                             "each position and pool worse than margin ratio R to R (e.g. 0.5)")
    parser.add_argument("--target-distance", type=str, metavar="PCT",
                        help="also bring each position at least PCT percent from liquidation (e.g. 10, "
                             "like alerts.distance_warning); the stricter of the two goals wins")
    parser.add_argument("--funding-rate", type=str, metavar="PCT",
                        help="what-if: funding at PCT percent per funding interval (signed: longs pay a "
                             "positive rate) — where each liquidation price drifts after 1, 3 and 24 "
                             "payments, and how many payments funding alone takes to liquidate (text only)")
    parser.add_argument("--move", type=str, metavar="PCT", default=None,
                        help="multi-account files: suggest the margin to move between accounts so that "
                             "neither leg of a hedge is liquidated within ±PCT percent (default 20)")
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
    from desk.domain.limits import InputError, check_price

    marks: dict[str, float] = {}
    for item in items:
        symbol, sep, price = item.rpartition("=")
        if not sep or not symbol.strip():
            raise UserError(f"--mark expects SYMBOL=PRICE (e.g. --mark BTC/USDT:USDT=60000), got {item!r}")
        value = _number(price.strip(), f"the --mark price of {symbol.strip()}")
        if value <= 0:
            raise UserError(f"the --mark price of {symbol.strip()} must be > 0, got {price.strip()}")
        try:
            check_price(value, f"the --mark price of {symbol.strip()}")
        except InputError as exc:
            raise UserError(exc.message) from None
        marks[symbol.strip()] = value
    return marks


def _shock_arg(text: str) -> float:
    from desk.domain.limits import MAX_SHOCK

    pct = _number(text, "--shock")
    if pct <= -100:
        raise UserError(f"--shock must be above -100 (percent), got {text}")
    if pct > MAX_SHOCK * 100:
        raise UserError(f"--shock must be at most {MAX_SHOCK * 100:,.0f} (percent: every mark "
                        f"×{1 + MAX_SHOCK:g}), got {text}")
    return pct / 100.0


def _target_arg(text: str) -> float:
    """--target takes the range declared for risk.target_margin_ratio (the one rule for it)."""
    from desk.store.settings import OPTIONS_BY_KEY

    option = OPTIONS_BY_KEY["risk.target_margin_ratio"]
    target = _number(text, "--target")
    assert option.min is not None and option.max is not None
    if not option.min <= target <= option.max:
        raise UserError(f"--target must be a margin ratio from {option.min:g} to {option.max:g} "
                        f"(1.0 = liquidation), got {text}")
    return target


def _result_error(exc: Any) -> UserError:
    """A figure that is not a showable number, named by account, position and field."""
    where = f'account "{exc.account}"'
    p = exc.position
    if p is not None:
        where += f', position "{p.symbol}" ({p.side if p.leg == "both" else p.leg + " leg"})'
    return UserError(f"{where}: {exc.message}; desk shows no figure it cannot trust")


def run(args: argparse.Namespace) -> int:
    # one report made and written, then the process ends: the objects of a large book make no
    # cycle, and the collector walking them again and again cost ~6 % of the command (issue 18)
    with collector_paused():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from desk.domain.engine import compute_risk
    from desk.domain.limits import InputError, ResultError, check_changed, check_report
    from desk.domain.scenario import apply_what_if
    from desk.formats import PortfolioError, load_portfolio
    from desk.formats.portfolio import from_input_error
    from desk.formats.report import write_report

    pretty = getattr(args, "pretty", False)  # callers building their own Namespace may omit it
    if pretty and not args.json:
        raise UserError("--pretty indents the JSON report: add --json")
    marks = _marks(args.mark)
    shock = None if args.shock is None else _shock_arg(args.shock)
    target = None if args.target is None else _target_arg(args.target)
    target_distance = None
    if args.target_distance is not None:
        pct = _number(args.target_distance, "--target-distance")
        if not 0 < pct < 100:
            raise UserError(f"--target-distance must be a percent between 0 and 100 (e.g. 10), "
                            f"got {args.target_distance}")
        target_distance = pct / 100.0
    try:
        portfolio = load_portfolio(args.file)
    except PortfolioError as exc:
        raise UserError(str(exc)) from None
    try:
        read, portfolio = portfolio, apply_what_if(portfolio, marks=marks, shock=shock)
        check_changed(read, portfolio)  # a moved mark is an input too
    except InputError as exc:
        raise UserError(f"with the what-if applied, {from_input_error(exc)}") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    move = 0.20 if args.move is None else _number(args.move, "--move") / 100.0
    if not 0 < move < 1:
        raise UserError(f"--move must be a percent between 0 and 100 (e.g. 20), got {args.move}")
    report = compute_risk(portfolio, target=target, target_distance=target_distance)
    try:
        check_report(report)
    except ResultError as exc:
        raise _result_error(exc) from None
    funding_rate = getattr(args, "funding_rate", None)  # callers building their own Namespace omit it
    if funding_rate is None:  # the venues' own rates, where read: their drift (issue 17)
        from desk.domain.funding import with_funding_drift

        report = with_funding_drift(portfolio, report, now=time.time())
    what_if: dict[str, Any] = {"marks": marks, "shock": shock, "target": target}
    if target_distance is not None:
        what_if["target_distance"] = target_distance
    if funding_rate is not None and args.json:
        raise UserError("--funding-rate is shown in the text report only; drop --json")
    book = _book(portfolio, move, report)
    if args.json:
        # the document is made whole before a byte is written (write_report); a person at a
        # terminal reads it indented, a script or a file gets it compact, a third sooner and
        # smaller (31.5 → 21.5 MB for 10,000 positions; issue 18)
        write_report(sys.stdout.buffer, report, what_if=what_if, book=book,
                     indent=pretty or sys.stdout.isatty())
        sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
        return 0
    # rendered whole before anything is written: no half report on stdout
    text = io.StringIO()
    print_report(report, what_if, text, colour=_use_colour(sys.stdout))
    if book is not None:
        print_book(book, text)
    if funding_rate is None:
        text.write(_live_funding_text(report))
    data = text.getvalue().encode(sys.stdout.encoding or "utf-8", errors="replace")
    if funding_rate is not None:
        rate = _number(funding_rate, "--funding-rate") / 100.0
        if not -0.1 < rate < 0.1:  # venues cap funding far below 10 % an interval
            raise UserError(f"--funding-rate must be a percent per interval between -10 and 10, "
                            f"got {funding_rate}")
        funding = _funding_text(portfolio, report, rate)
        data += funding.encode(sys.stdout.encoding or "utf-8", errors="replace")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def _funding_text(portfolio: Any, report: Any, rate: float) -> str:
    """Funding drift per position (issue 17): the liquidation price after 1, 3 and 24 payments."""
    from desk.domain.funding import funding_drift

    lines = [f"\nfunding what-if: {rate * 100:+g} % per interval (positive: longs pay)"]
    for account, risk in zip(portfolio.accounts, report.accounts, strict=True):
        for position, r in zip(account.positions, risk.positions, strict=True):
            drift = funding_drift(account, position.symbol, position.leg.value, rate,
                                  margin_mode=position.margin_mode.value)
            after = ", ".join(f"{n}: {display.price(liq, position.tick_size)}"
                              for n, liq in drift.liquidation_after)
            verb = "pays" if drift.payment >= 0 else "receives"
            text = (f"  {_escaped(account.name, 60)} {_escaped(position.symbol, 60)} ({r.side}): {verb} "
                    f"{display.money(abs(drift.payment), position.settle)} a payment; liquidation "
                    f"{display.price(r.liquidation_price, position.tick_size)} now, after {after}")
            if drift.payments_to_liquidation is not None:
                text += f"; funding alone liquidates it after {drift.payments_to_liquidation:,.1f} payments"
            lines.append(text)
    return "\n".join(lines) + "\n"


def _live_funding_text(report: Any) -> str:
    """Each position's current funding (as read or given) and where paying it moves the liquidation
    price; a cross position pays from its pool, so its line is the pool's drift too. Empty when no
    position carries a rate."""
    lines = []
    for risk in report.accounts:
        for r in risk.positions:
            drift = r.funding_drift
            if drift is None:
                continue
            source = "its isolated margin" if r.margin_mode == "isolated" else f"the {r.settle} pool"
            verb = "pays" if drift.payment >= 0 else "receives"
            after = " / ".join(display.price(liq, r.tick_size) for _, liq in drift.liquidation_after)
            counts = " / ".join(str(n) for n, _ in drift.liquidation_after)
            label = _escaped(r.symbol, 60)  # a hedge leg is told by its side
            way = "from" if drift.payment >= 0 else "into"
            text = (f"  {_escaped(r.account, 60)} {label} ({r.side}): funding "
                    f"{display.funding_rate(r.funding_rate, r.funding_interval_hours)}, next "
                    f"{display.utc_clock(r.next_funding_time)}; {verb} "
                    f"{display.money(abs(drift.payment), r.settle)} a payment {way} {source}")
            text += f"; liquidation after {counts} payments: {after}"
            if drift.payments_to_liquidation is not None:
                text += f"; funding alone liquidates after {drift.payments_to_liquidation:,.1f} payments"
            lines.append(text)
    for risk in report.accounts:
        for pool in risk.pools:
            if pool.funding_drift is not None:
                lines.extend(_pool_funding_lines(risk, pool))
            elif pool.pool == "account" and any(r.funding_rate is not None for r in risk.positions):
                lines.append(f"  {_escaped(risk.name, 60)}: funding is paid from the account-wide pool's "
                             "collateral coins, which desk does not model: no pool drift")
    if not lines:
        return ""
    return "\nFunding (current rates, positive: longs pay; marks held)\n" + "\n".join(lines) + "\n"


def _pool_funding_lines(risk: Any, pool: Any) -> list[str]:
    """A single-asset cross pool under the funding of all its cross positions, each on its own
    schedule: the pool after the payments due within each horizon, and when funding alone
    liquidates it."""
    drift = pool.funding_drift
    cur = pool.settle
    ticks = {(r.symbol, r.leg): r.tick_size for r in risk.positions}
    sides = {(r.symbol, r.leg): r.side for r in risk.positions}
    horizons = " / ".join(display.hours(s.hours) for s in drift.after)
    lines = [f"  {_escaped(risk.name, 60)} pool {_escaped(cur, 20)}, funding of its cross positions from "
             f"{display.utc_datetime(drift.origin)} (each at its own interval):"]
    for f in drift.payers:
        verb = "pays" if f.payment >= 0 else "receives"
        lines.append(f"    {_escaped(f.symbol, 60)} ({sides.get((f.symbol, f.leg), f.leg)}): "
                     f"{display.funding_rate(f.rate, f.interval_hours)}, first "
                     f"{display.utc_clock(f.first_payment)}; {verb} "
                     f"{display.money(abs(f.payment), cur)} a payment")
    lines.append(f"    after {horizons}: paid "
                 + " / ".join(display.money(s.paid, cur, signed=True) for s in drift.after)
                 + "; margin ratio " + " / ".join(display.margin_ratio(s.margin_ratio) for s in drift.after))
    for i, (symbol, leg, _) in enumerate(drift.after[0].liquidation_prices if drift.after else ()):
        prices = " / ".join(display.price(s.liquidation_prices[i][2], ticks.get((symbol, leg)))
                            for s in drift.after)
        lines.append(f"    {_escaped(symbol, 60)} ({sides.get((symbol, leg), leg)}) liquidation after "
                     f"{horizons}: {prices}")
    if drift.liquidation_time is not None:
        lines.append(f"    funding alone liquidates the pool in {display.hours(drift.hours_to_liquidation)}, "
                     f"at the payment of {display.utc_datetime(drift.liquidation_time)}")
    elif drift.note is not None:
        lines.append(f"    funding alone: {_escaped(drift.note, 200)}")
    else:
        lines.append("    funding alone never liquidates the pool (it receives at least as much as it pays)")
    if drift.unknown:
        names = ", ".join(f"{_escaped(symbol, 60)} ({sides.get((symbol, leg), leg)})"
                          for symbol, leg in drift.unknown)
        lines.append(f"    funding unknown (counted as none): {names}")
    return lines


def _book(portfolio: Any, move: float, report: Any) -> Any:
    """The whole book (issue 21) for a file of several accounts or with spot balances, else None.
    Betas for the BTC move: the defaults, as in the dashboard's stress panel."""
    if len(portfolio.accounts) < 2 and not any(a.spot for a in portfolio.accounts):
        return None
    from desk.domain.betas import DEFAULT_BETAS
    from desk.domain.book import compute_book

    return compute_book(portfolio, move=move, betas=dict(DEFAULT_BETAS), risk=report)


def print_book(book: Any, out: TextIO) -> None:
    """The "Book" section: exposure per underlying, hedges and where they break, one stress for all."""
    from desk.domain.book import transfer_text

    out.write("\nBook (every account and venue)\n")
    rows = [["exposure", "long", "short", "net"]]
    for e in book.exposures:
        unit = _escaped(e.underlying, 20)

        def side(coin: float, usd: float, unit: str = unit, signed: bool = False) -> str:
            return (f"{display.quantity(coin, unit) if not signed else _signed_qty(coin, unit)} "
                    f"({display.money(usd, 'USD', signed=signed)})")

        rows.append([unit, side(e.long_coin, e.long_usd), side(e.short_coin, e.short_usd),
                     side(e.net_coin, e.net_usd, signed=True)])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        out.write("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    if not book.hedges:
        out.write("  hedges: none (no opposite legs of one underlying across accounts, "
                  "or perp against spot)\n")
    for h in book.hedges:
        out.write(f"  hedge {_escaped(h.long.label, 120)} against {_escaped(h.short.label, 120)} "
                  f"({display.quantity(h.hedged_coin, h.underlying)}):\n")
        if h.breaking is not None:
            away = display.distance_with_state(h.signed_break_distance, h.breaking.liquidatable)
            out.write(f"    breaks at {display.price(h.break_price, h.breaking.tick_size)} ({away} away): "
                      f"{_escaped(h.text(), 400)}\n")
        else:
            out.write(f"    {_escaped(h.text(), 400)}\n")
        if h.transfer is not None:
            out.write(f"    suggestion: {_escaped(transfer_text(h.transfer), 400)}\n")
    for stress in book.stress:
        if stress.mode == "uniform":
            out.write("  stress, every mark moved at once "
                      "(a liquidated pool loses its whole margin balance):\n")
        else:
            betas = ", ".join(f"{k}={v:g}" for k, v in stress.betas.items()) or "none"
            out.write(f"  stress, BTC move with each asset following by its beta ({betas}):\n")
        out.write("    move    book P&L (USD)     first liquidated\n")
        for shock in (-0.5, -0.3, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.3, 0.5):
            i = stress.at(shock)
            first = stress.first_liquidated[i]
            out.write(f"    {display.percent(float(stress.shocks[i]), 0, signed=True):>6}  "
                      f"{display.money(float(stress.pnl_usd[i]), signed=True):>16}   "
                      f"{_escaped(first, 200) if first else '—'}\n")
    for w in book.warnings:
        out.write(f"  warning: {_escaped(w, 600)}\n")


def _signed_qty(coin: float, unit: str) -> str:
    text = display.quantity(abs(coin), unit)
    return ("+" if coin >= 0 else "-") + text


# ---------------------------------------------------------------------------- table


def _use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _shock(x: float | None) -> str:
    return display.shock(x)


def _suggestion_text(s: Any) -> str:
    from desk.domain.suggest import suggestion_text

    return suggestion_text(s)


def print_report(report: Any, what_if: dict[str, Any], out: TextIO, *, colour: bool | None = None) -> None:
    colour = _use_colour(out) if colour is None else colour

    def paint(text: str, ratio: float | None) -> str:
        # Rows and pool lines quote names from the file: control characters escaped, so a name
        # cannot drive the terminal (before our own colour codes are added).
        text = _escaped(text, None)
        if not colour or ratio is None:
            return text
        code = "31;1" if at_or_past_liquidation(ratio) else "33" if ratio >= 0.7 else "32"
        return f"\033[{code}m{text}\033[0m"

    applied = []
    for symbol, price in what_if.get("marks", {}).items():
        applied.append(f"mark {symbol} = {display.price(price)}")
    if what_if.get("shock") is not None:
        applied.append(f"shock {what_if['shock'] * 100:+g}%")
    if what_if.get("target") is not None:
        applied.append(f"target ratio {what_if['target']:g}")
    if what_if.get("target_distance") is not None:
        applied.append(f"target distance {what_if['target_distance'] * 100:g}%")
    if applied:
        out.write("what-if: " + _escaped("; ".join(applied), None) + "\n\n")

    headers = ["account", "symbol", "side", "mode", "size", "mark", "liq (ours)", "liq (exchange)",
               "bankruptcy", "distance", "margin ratio"]
    rows: list[tuple[list[str], float | None]] = []
    orders_read = any(p.protection is not None for p in report.positions())
    if orders_read:  # only where orders were read: an old file gives no verdict rather than a wrong one
        headers.append("stop")

    def badness(p: Any) -> tuple[float, float]:
        ratio = -1.0 if p.margin_ratio is None else p.margin_ratio
        dist = p.signed_distance_to_liquidation
        return (-ratio, math.inf if dist is None else dist)

    for p in sorted(report.positions(), key=badness):
        side = p.side if p.leg == "both" else f"{p.side} (hedge)"
        tick = p.tick_size
        theirs = p.reported_liquidation_price
        rows.append(([
            p.account, p.symbol, side, p.margin_mode, display.quantity(p.contracts),
            display.price(p.mark_price, tick), display.price(p.liquidation_price, tick),
            display.price(theirs, tick), display.price(p.bankruptcy_price, tick),
            display.distance_with_state(p.signed_distance_to_liquidation, p.liquidatable),
            display.margin_ratio(p.margin_ratio),
        ] + ([_stop_cell(p)] if orders_read else []), p.margin_ratio))
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
        out.write(f"\n{_escaped(acc.name, 60)} ({_escaped(acc.venue, 60)}, {rule})\n")
        for pool in acc.pools:
            if getattr(pool, "pool", "settle") == "account":
                _write_account_pool(pool, out, paint)
                continue
            venue = ""
            if pool.venue_margin_ratio is not None and pool.venue_margin_ratio != pool.margin_ratio:
                venue = _venue_ratio_text(pool.venue_margin_ratio)
            cur = pool.settle
            past = f" — {display.PAST_LIQUIDATION}" if pool.liquidatable else ""
            text = (f"  pool {cur}: wallet {display.money(pool.wallet_balance, cur)}, unrealized PnL "
                    f"{display.money(pool.unrealized_pnl, cur, signed=True)}, margin balance "
                    f"{display.money(pool.margin_balance, cur)}, maintenance "
                    f"{display.money(pool.maintenance_margin, cur)}, margin ratio "
                    f"{display.margin_ratio(pool.margin_ratio)}{venue}{past}")
            out.write(paint(text, pool.margin_ratio) + "\n")
            for s in pool.suggestions:
                out.write(f"    suggestion: {_suggestion_text(s)}\n")
        if any(getattr(pool, "cannot_recompute", None) for pool in acc.pools):
            out.write("  shock to liquidation: cannot recompute for this account mode\n")
        else:
            out.write(f"  shock to liquidation: {_shock(acc.shock_to_liquidation)}\n")
        for p in acc.positions:
            if p.protection is not None:
                leg = p.leg if p.leg != "both" else p.side
                verdict = verdict_text(p.protection, p.tick_size)
                out.write(f"  {_escaped(p.symbol, 60)} ({leg}): {verdict} — "
                          f"{loss_text(p.protection, p.settle)}\n")
        for p in acc.positions:
            if p.suggestions:
                leg = p.leg if p.leg != "both" else p.side
                out.write(f"  {_escaped(p.symbol, 60)} ({leg}, {p.margin_mode}):\n")
                for s in p.suggestions:
                    out.write(f"    suggestion: {_suggestion_text(s)}\n")
        for w in acc.warnings:
            out.write(f"  warning: {_escaped(w, 600)}\n")


def _write_account_pool(pool: Any, out: TextIO, paint: Any) -> None:
    """One margin pool for the whole account (unified-margin.md §0): its mode and its collateral."""
    cur = pool.settle
    k = f", liquidation at {pool.threshold:g}×MM" if pool.threshold != 1.0 else ""
    out.write(f"  mode: {_escaped(pool.mode or 'unnamed', 60)} (one margin pool for the account, "
              f"valued in {_escaped(cur, 20)}{k})\n")
    venue = ""
    if pool.venue_margin_ratio is not None:
        venue = _venue_ratio_text(pool.venue_margin_ratio)
    past = f" — {display.PAST_LIQUIDATION}" if pool.liquidatable else ""
    if pool.cannot_recompute is not None:
        text = (f"  pool {_escaped(cur, 20)}: cannot recompute: {_escaped(pool.cannot_recompute, 200)}; "
                f"margin ratio {display.margin_ratio(pool.margin_ratio)} from the venue's own "
                f"figure{venue}{past}")
    else:
        text = (f"  pool {_escaped(cur, 20)}: total equity {display.money(pool.total_equity, cur)}, margin "
                f"balance {display.money(pool.margin_balance, cur)} after haircuts, maintenance "
                f"{display.money(pool.maintenance_margin, cur)}, margin ratio "
                f"{display.margin_ratio(pool.margin_ratio)}{venue}{past}")
    out.write(paint(text, pool.margin_ratio) + "\n")
    for c in pool.collateral:
        asset = _escaped(c.asset, 20)
        held = (f"    collateral {asset}: {display.quantity(c.amount, asset)} at "
                f"{display.price(c.price)} {_escaped(cur, 20)}")
        if c.value is not None and c.value == c.value:  # NaN where the mode cannot be recomputed
            held += (f", equity {display.quantity(c.equity, asset)}, haircut {display.percent(c.haircut)}, "
                     f"counts {display.money(c.value, cur)}")
        out.write(held + "\n")
    for s in pool.suggestions:
        out.write(f"    suggestion: {_suggestion_text(s)}\n")

def _venue_ratio_text(ratio: float) -> str:
    return f" (venue's own ratio {display.venue_ratio(ratio)})"


def _stop_cell(p: Any) -> str:
    return "-" if p.protection is None else p.protection.label


def _escaped(text: object, limit: int | None) -> str:
    """Text from the portfolio file as it may reach a terminal: see :func:`desk.sanitize.for_user`."""
    from desk.sanitize import for_user

    return for_user(text, limit=limit, multiline=limit is None)
