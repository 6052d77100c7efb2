"""Fuzz the portfolio reader and `desk risk` with hostile documents (issue 14, "never silent, never lost").

Documents are the shipped examples with one part replaced by something hostile — a non-finite,
huge, tiny or 5,000-digit number, a text with a lone surrogate or control characters, a deep
nesting, a wrong type, a missing or unknown field — or their bytes cut or corrupted. Every run
must end in a report with only finite numbers or in a named error: no traceback, nothing printed
before the error, never NaN or infinity shown as a number. The reader and the command's code run
in-process (fast, many examples); a few generated files go through `desk risk` as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from desk.commands import risk
from desk.commands._support import UserError
from desk.formats import PortfolioError, load_portfolio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [json.loads(p.read_text()) for p in sorted((ROOT / "docs/examples").glob("*.json"))]

#: a number shown as text that is not a finite number ("inf (no margin left)" is the one allowed)
NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Raw:
    """JSON text put into the document as is (NaN, 1e999, a 5,000-digit number, a deep nesting)."""

    text: str


def render(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render_text(k)}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, str):
        return render_text(value)
    return json.dumps(value)


def render_text(text: str) -> str:
    # control characters, quotes and lone surrogates as \u escapes (so they survive into the file)
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or c in '"\\' or 0xD800 <= ord(c) <= 0xDFFF
                         else c for c in text) + '"'


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def safe_text(s: str) -> bool:
    return NON_FINITE.search(s) is None  # a name "nan" would look like a printed NaN


numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "0", "-0", "1e308",
                     "5e-324",
                     "1e15", "1e16", "1e12", "1e-12", "0.000000000001", "123456789012345678901234567890"]),
    st.integers(1, 5_000).map(lambda n: "9" * n),
    st.integers(-(10 ** 40), 10 ** 40).map(str),
)
texts = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
    st.sampled_from(["", "\ud800", "a\udc80b", "\x00", "\x1b[31m", "x" * 1001, "USDT", "long", "cross"]),
).filter(safe_text)
leaves = st.one_of(numbers.map(Raw), texts, st.booleans(), st.none())
values = st.one_of(
    leaves,
    st.integers(2, 3_000).map(lambda n: Raw("[" * n + "]" * n)),
    st.integers(1, 3).flatmap(lambda n: st.lists(leaves, max_size=n)),
    st.dictionaries(texts, leaves, max_size=3),
)


#: plausible-looking but extreme numbers: most such documents are valid and reach the engine
magnitudes = st.floats(-14.0, 20.0).map(lambda e: float(f"{10.0 ** e:.6g}"))
scales = st.floats(-4.0, 4.0).map(lambda e: 10.0 ** e)  # the example's own number, ×0.0001 to ×10,000


@st.composite
def hostile_documents(draw: st.DrawFn, *, mild: bool = False) -> bytes:
    """``mild``: only numbers change, each by a factor of 10⁻⁴ to 10⁴ (many such documents are valid)."""
    doc = json.loads(json.dumps(draw(st.sampled_from(EXAMPLES))))  # a fresh copy
    numbers_only = mild or draw(st.booleans())  # else anything goes: types, names, nesting, missing fields
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(doc)
        if numbers_only:
            candidates = [p for p in candidates if isinstance(at(doc, p), int | float)
                          and not isinstance(at(doc, p), bool)]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        *parents, last = path
        node = at(doc, tuple(parents))
        if numbers_only:
            scaled = scales.map(lambda k, now=node[last]: now * k)
            node[last] = draw(scaled if mild else st.one_of(scaled, scaled, magnitudes,
                                                            magnitudes.map(lambda x: -x), st.just(0.0)))
            continue
        action = draw(st.sampled_from(["set", "set", "set", "delete", "add", "rename"]))
        if action == "set" or (action == "delete" and isinstance(node, list)):
            node[last] = draw(values)
        elif action == "delete":
            del node[last]
        elif action == "add" and isinstance(node, dict):
            node[draw(texts)] = draw(values)
        elif action == "rename" and isinstance(node, dict):
            node[draw(texts)] = node.pop(last)
    data = render(doc).encode("utf-8")
    damage = "none" if mild else draw(st.sampled_from(["none"] * 8 + ["cut", "byte"]))
    if damage == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "byte" and data:
        at_byte = draw(st.integers(0, len(data) - 1))
        data = data[:at_byte] + bytes([draw(st.integers(0, 255))]) + data[at_byte + 1:]
    return data


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


what_ifs = st.fixed_dictionaries({
    "json": st.booleans(),
    "shock": st.one_of(st.none(), st.floats(-99.9, 500).map(repr), st.floats(-99.9, 500).map(repr), numbers),
    "target": st.one_of(st.none(), st.floats(0.01, 1).map(repr), st.floats(0.01, 1).map(repr), numbers),
})


def assert_reader_result(data: bytes) -> None:
    """The reader returns a portfolio or raises its named error, whose text can be printed."""
    try:
        load_portfolio(data)
    except PortfolioError as exc:
        message = str(exc)
        assert message and len(message) < 3_000, message[:300]
        message.encode("utf-8")  # no lone surrogate: printing it cannot fail
        assert "Traceback" not in message


def assert_shown_numbers_are_finite(out: str) -> None:
    shown = out.replace("inf (no margin left)", "")
    assert NON_FINITE.search(shown) is None, shown


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(st.one_of(hostile_documents(), hostile_documents(mild=True)), what_ifs)
def test_fuzz_reader_and_risk_command_in_process(tmp_path, capsys, data, what_if):
    assert_reader_result(data)
    path = tmp_path / "fuzz.json"
    path.write_bytes(data)
    args = argparse.Namespace(file=str(path), mark=[], target_distance=None, move=None, **what_if)
    capsys.readouterr()
    try:
        code = risk.run(args)
    except UserError as exc:
        out = capsys.readouterr().out
        assert out == "", "printed before the error: " + out[:300]
        str(exc).encode("utf-8")
        event("named error")
        return
    assert code == 0
    event("report")
    out = capsys.readouterr().out
    if what_if["json"]:
        json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON report"))
    else:
        assert_shown_numbers_are_finite(out)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(st.one_of(hostile_documents(), hostile_documents(mild=True)))
@example(data=render({**EXAMPLES[0], "accounts": [{**EXAMPLES[0]["accounts"][0],
                                                   "name": "a\ud800"}]}).encode())  # a crash once
def test_fuzz_desk_risk_subprocess(tmp_path, subprocess_env, data):
    path = tmp_path / "fuzz.json"
    path.write_bytes(data)
    result = subprocess.run([sys.executable, "-m", "desk", "risk", str(path)], capture_output=True, text=True,
                            cwd=ROOT, env=subprocess_env, timeout=60, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (0, 2), (result.returncode, result.stderr[-2000:])
    event(f"exit {result.returncode}")
    if result.returncode == 2:
        assert result.stdout == ""
        assert result.stderr.startswith("desk: error: ") and result.stderr.count("\n") == 1, result.stderr
    else:
        assert_shown_numbers_are_finite(result.stdout)
