"""The settings reader under random input: no exception escapes, every problem is a named issue, and
a save never loses a setting or account that was read as valid (issue 14)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from desk.store.settings import OPTIONS, OPTIONS_BY_KEY, Settings, SettingsError, broken_rules
from desk.store.settings_reader import SettingsIssue, read_document

HEADERS = ["[alerts]", "[monitor]", "[ui]", "[accounts.main]", "[accounts.b]", "[overrides.main]",
           '[overrides."main/BTC"]', "[[accounts]]", "[general]", "[alerts", "[]", "[a.b.c.d.e.f.g.h]",
           "[" + "x." * 40 + "y]", "[[alerts]]", "[accounts.main.deeper]"]
KEYS = [o.name for o in OPTIONS] + ["venue", "label", "api_url", "enabled", "sandbox", "schema_version",
                                    "alerts", "ui", "accounts", "apiKey", "a.b", '"quoted key"', "x y", ""]
VALUES = ["0.1", "0.9", "60", "-1", "true", "yes", '"dark"', '"binance"', '"https://h.example/x"', "[1,",
          "[1, 2]", "{a = 1}", '"""', "'''", "1e999", "nan", "inf", "9" * 5000, "[" * 300 + "]" * 300,
          "{" * 50, '"\\u0000"', "2026-01-01T00:00:00Z", "07:00:00", '"23:00-23:00"', "0.6.", "= =", "5",
          '"٣"', "0x10", "1_000", '"a\nb"', "'unterminated"]
FRAGMENTS = st.one_of(
    st.sampled_from(HEADERS),
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(KEYS), st.sampled_from(VALUES)),
    st.sampled_from(["# comment", "", "   ", "\t", "\ufeff", "\r", "\x00", "\x7f", "]]", "=", "\u2028"]),
    st.text(max_size=40),
)
TOMLISH = st.builds(lambda prefix, lines, sep: prefix + sep.join(lines),
                    st.sampled_from(["", "\ufeff", "schema_version = 2\n", "schema_version = 1\n",
                                     "schema_version = 99\n", 'schema_version = "2"\n']),
                    st.lists(FRAGMENTS, max_size=40), st.sampled_from(["\n", "\r\n", "\n\n"]))

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_reader(data: bytes) -> None:
    result = read_document(data)  # never raises
    for issue in result.issues:
        assert isinstance(issue, SettingsIssue) and issue.key and issue.why
        assert "Traceback" not in str(issue)


def _check_load_and_save(data: bytes) -> None:
    """Load never raises; a save either works or is refused with a SettingsError; after a save the
    file reads without damage and every value and account read as valid before is still there."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.toml"
        path.write_bytes(data)
        before = Settings.load(path)
        for problem in before.problems:
            assert isinstance(problem, str) and problem
        values, accounts = before.as_dict(), before.accounts()
        try:
            before.set("ui.start_minimized", not before.get("ui.start_minimized"))
            before.save()
        except SettingsError as exc:
            assert str(exc)
            if not before.read_only_reason:
                assert path.read_bytes() == data  # refused: nothing written
            return
        after = Settings.load(path)
        assert not read_document(path.read_bytes()).dropped, after.problems  # reads cleanly now
        values["ui.start_minimized"] = not values["ui.start_minimized"]
        assert after.as_dict() == values
        assert after.accounts() == accounts
        if any("rewritten" in n for n in before.problems):
            backups = list(Path(folder).glob("settings.toml.damaged-*"))
            assert [b.read_bytes() for b in backups] == [data]


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data: bytes) -> None:
    _check_reader(data)
    _check_load_and_save(data)


@FUZZ
@given(TOMLISH)
def test_tomlish_text_never_raises_and_a_save_keeps_every_valid_setting(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    _check_reader(data)
    _check_load_and_save(data)


def _option_value(opt: Any) -> st.SearchStrategy[Any]:
    if opt.type is bool:
        return st.booleans()
    if opt.choices:
        return st.sampled_from(opt.choices)
    if opt.type is str:
        return st.just(opt.default)
    low, high = opt.min if opt.min is not None else 0, opt.max if opt.max is not None else 1000
    if opt.type is int:
        return st.integers(int(low), int(high))
    return st.floats(low, high, allow_nan=False).map(lambda x: round(x, 4)).filter(lambda x: low <= x <= high)


VALID_SETTINGS = st.fixed_dictionaries({}, optional={o.key: _option_value(o) for o in OPTIONS})
ACCOUNTS = st.dictionaries(st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
                           st.sampled_from(["binance", "bybit", "okx", "hyperliquid"]), max_size=3)
BAD_LINES = ["margin_ratio_warning = 0.6.", "= =", "x = [1, 2", "'''", 'label = "unterminated', "\xff\xfe",
             "distance_warning = = 0.1", "theme = dark", "a = " + "[" * 3000, "big = " + "9" * 5000, "\x00"]


@FUZZ
@given(VALID_SETTINGS, ACCOUNTS, st.sampled_from(BAD_LINES), st.integers(0, 10_000),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_one_bad_line_costs_only_itself(values: dict[str, Any], accounts: dict[str, str], bad: str,
                                        where: int, newline: str, bom: bool) -> None:
    """Any valid file with one unreadable line inserted between its statements: every setting and
    account still reads, and the bad line is reported with its line number."""
    assume(not broken_rules(lambda k: values.get(k, OPTIONS_BY_KEY[k].default)))
    doc: dict[str, Any] = {"schema_version": 2}
    for key, value in values.items():
        group, name = key.split(".")
        doc.setdefault(group, {})[name] = value
    doc["accounts"] = {name: {"venue": venue} for name, venue in accounts.items()}
    lines = tomli_w.dumps(doc).splitlines()
    statements = [i for i, line in enumerate(lines) if line and not line.startswith("[")]
    at = statements[where % len(statements)] + 1  # after a statement, before the next line
    lines.insert(at, bad)
    data = (b"\xef\xbb\xbf" if bom else b"") + newline.join(lines).encode("utf-8", "surrogateescape")
    data = data.replace("\xff\xfe".encode(), b"\xff\xfe")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.toml"
        path.write_bytes(data)
        loaded = Settings.load(path)
        assert {k: loaded.get(k) for k in values} == values
        assert {name: a.venue for name, a in loaded.accounts().items()} == accounts
        assert [i.line for i in loaded.issues] == [at + 1], loaded.problems
