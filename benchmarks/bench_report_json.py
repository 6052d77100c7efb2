"""Speed of the `desk risk --json` document on a 10,000-position book (issue 18). Prints figures; not a test.

    python -m benchmarks.bench_report_json [--runs N] [--fresh F] [--baseline GIT_REF]

The book of benchmarks/bench_cold.py (20 accounts × 500 positions, a distinct 8-tier table per symbol,
every fifth position isolated) is read, its risk and whole book computed once; then
the indented report written into memory (``write_report`` of desk/formats/report.py; a baseline
from before it, ``encode_report``) is timed N times — in-process CPU time
(``time.process_time``), min/median/max — interleaved with the same function of ``GIT_REF``'s
desk/formats/report.py (default ``main``), loaded beside this tree's as the same-run baseline, so a
burst of load hits both; the two outputs must be the same bytes. Then the first report written in F fresh
processes per side, indented, to /dev/null as `desk risk --json` writes it (``write_report``, in
parts, where the side has it; else ``encode_report`` whole, then written): its memory is new to the
process, which costs more than later calls, and only writing in parts avoids growing by the text.
Also: the parts of each encoding (the document's structs, the hedges'
sentences within them, msgspec's compact JSON, its indent=2 format), the compact JSON alone as an
alternative, the load average before and after, and the reference job of benchmarks/figures.py
sampled between runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_cold import ACCOUNTS, PER_ACCOUNT, portfolio_doc  # noqa: E402
from benchmarks.figures import Reference, load_line, spread  # noqa: E402

REPORT_MODULE = "desk/formats/report.py"
WHAT_IF = {"marks": {}, "shock": None, "target": None}  # as `desk risk --json FILE` passes it


def baseline_module(ref: str) -> types.ModuleType | None:
    """``ref``'s desk/formats/report.py as a module of its own (the domain it reads is this tree's);
    None when git cannot give it."""
    done = subprocess.run(["git", "show", f"{ref}:{REPORT_MODULE}"], cwd=ROOT, capture_output=True,
                          check=False)
    if done.returncode != 0:
        print(f"(no baseline: git show {ref}:{REPORT_MODULE} failed: {done.stderr.decode().strip()})")
        return None
    name = "desk.formats._report_baseline"
    module = types.ModuleType(name)
    module.__file__ = f"<{ref}:{REPORT_MODULE}>"
    sys.modules[name] = module  # msgspec resolves the structs' annotations through it
    exec(compile(done.stdout, module.__file__, "exec"), module.__dict__)
    return module


def cpu_ms(work: Callable[[], object]) -> tuple[float, object]:
    start = time.process_time()
    result = work()
    return (time.process_time() - start) * 1e3, result


def parts(module: Any, report: Any, book: Any, figures: dict[str, list[float]], prefix: str = "") -> None:
    """The three steps of ``module.encode_report``, timed one by one, and the hedges' sentences."""
    import msgspec

    doc_ms, doc = cpu_ms(lambda: module.report_to_doc(report, what_if=WHAT_IF, book=book))
    compact_ms, compact = cpu_ms(lambda: msgspec.json.encode(doc))
    figures.setdefault(prefix + "document", []).append(doc_ms)
    figures.setdefault(prefix + "compact JSON", []).append(compact_ms)
    figures.setdefault(prefix + "indent=2 format", []).append(
        cpu_ms(lambda: msgspec.json.format(compact, indent=2))[0])
    texts_ms = cpu_ms(lambda: [hedge.text() for hedge in book.hedges])[0]  # desk/domain/book.py
    figures.setdefault(prefix + "hedge texts", []).append(texts_ms)


def book_report() -> tuple[Any, Any]:
    from desk.commands.risk import _book
    from desk.domain.engine import compute_risk
    from desk.formats import load_portfolio

    portfolio = load_portfolio(json.dumps(portfolio_doc(ACCOUNTS, PER_ACCOUNT)).encode())
    report = compute_risk(portfolio)
    return report, _book(portfolio, 0.2, report)


def report_text(module: Any, report: Any, book: Any) -> bytes:
    """The indented report's bytes by ``module`` (a desk/formats/report.py): written by its
    ``write_report`` into memory, or (a tree before it) made by its ``encode_report``."""
    if not hasattr(module, "write_report"):
        return bytes(module.encode_report(report, what_if=WHAT_IF, book=book))
    out = io.BytesIO()
    module.write_report(out, report, what_if=WHAT_IF, book=book)
    return out.getvalue()


def first_call(ref: str | None) -> None:
    """Print the CPU ms of the first report written in this process (``ref``'s report.py, or this
    tree's), indented, to /dev/null as `desk risk --json` writes it to a file: with ``write_report``
    where the module has it (in parts), else ``encode_report`` whole and then written; on memory the
    process has not used yet."""
    from desk.formats import report as this

    report, book = book_report()
    module = this if ref is None else baseline_module(ref)
    with open(os.devnull, "wb") as sink:
        if hasattr(module, "write_report"):
            ms = cpu_ms(lambda: module.write_report(sink, report, what_if=WHAT_IF, book=book))[0]
        else:
            ms = cpu_ms(lambda: sink.write(module.encode_report(report, what_if=WHAT_IF, book=book)))[0]
    print(f"{ms:.3f}")


def fresh_processes(runs: int, ref: str) -> dict[str, list[float]]:
    """The first call's CPU ms in ``runs`` fresh processes for each side, alternating."""
    out: dict[str, list[float]] = {"this tree": [], "baseline": []}
    for _ in range(runs):
        for side, extra in (("this tree", []), ("baseline", ["--baseline", ref])):
            command = [sys.executable, "-m", "benchmarks.bench_report_json", "--first-call", *extra]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            out[side].append(float(done.stdout.split()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes per side for the first call")
    parser.add_argument("--baseline", default="main", help="git ref whose report.py is the baseline")
    parser.add_argument("--first-call", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_call:
        first_call(args.baseline if "--baseline" in sys.argv else None)
        return

    from desk.formats import report as this

    report, book = book_report()
    base = baseline_module(args.baseline)

    def encode(module: Any) -> Callable[[], bytes]:
        return lambda: report_text(module, report, book)

    reference = Reference()
    reference.sample()
    load_before = load_line()
    _, out = cpu_ms(encode(this))  # not counted: the first call meets fresh memory (see --fresh)
    figures: dict[str, list[float]] = {"this tree": [], "baseline": []}
    same: bool | None = None
    if base is not None:
        # a baseline before 797357b ends its document with the newline `desk risk` now writes apart
        same = cpu_ms(encode(base))[1].removesuffix(b"\n") == out.removesuffix(b"\n")
    for _ in range(args.runs):
        figures["this tree"].append(cpu_ms(encode(this))[0])
        reference.sample(1)
        if base is not None:
            figures["baseline"].append(cpu_ms(encode(base))[0])
            reference.sample(1)
            parts(base, report, book, figures, "baseline ")
        parts(this, report, book, figures)
        reference.sample(1)
    assert isinstance(out, bytes)
    fresh = fresh_processes(args.fresh, args.baseline) if base is not None and args.fresh else None

    print(f"the report indented into memory on {ACCOUNTS} accounts × {PER_ACCOUNT} positions with the "
          f"whole book ({len(out) / 1e6:.1f} MB of JSON); in-process CPU ms (time.process_time), "
          f"{args.runs} runs interleaved, after a first call:")
    print(f"  this tree:        {spread(figures['this tree'], 1)}   (target ≤ 60)")
    if base is not None:
        ratio = statistics.median(figures["baseline"]) / statistics.median(figures["this tree"])
        print(f"  {args.baseline + ' (baseline):':<18}{spread(figures['baseline'], 1)}")
        print(f"  baseline ÷ this tree: ×{ratio:.2f} (medians)   identical bytes: {'yes' if same else 'NO'}")
    if fresh is not None:
        print(f"  the first report written in a fresh process, indented, to /dev/null (as `desk risk --json "
              f"--pretty > FILE` writes it), {args.fresh} processes each, alternating:")
        print(f"    this tree:        {spread(fresh['this tree'], 1)}")
        ratio = statistics.median(fresh["baseline"]) / statistics.median(fresh["this tree"])
        print(f"    {args.baseline + ' (baseline):':<18}{spread(fresh['baseline'], 1)}   "
              f"×{ratio:.2f} (medians)")
    for prefix, name in (("", "this tree"), ("baseline ", args.baseline)):
        if prefix + "document" not in figures:
            continue
        print(f"  {name}'s parts:")
        for part in ("document", "hedge texts", "compact JSON", "indent=2 format"):
            within = "  (part of the document: Hedge.text, desk/domain/book.py)" * (part == "hedge texts")
            print(f"    {part + ':':<38}{spread(figures[prefix + part], 1)}{within}")
        compact_total = [a + b for a, b in zip(figures[prefix + "document"], figures[prefix + "compact JSON"],
                                               strict=True)]
        print(f"    {'document + compact JSON (no indent):':<38}{spread(compact_total, 1)}")
    median = statistics.median(figures["this tree"])
    print(f"  this tree (median CPU ms) = {reference.ratio(median)} (wall ms)")
    print(f"  {reference.describe()}")
    print(f"  {load_before} before, {load_line()} after")


if __name__ == "__main__":
    main()
