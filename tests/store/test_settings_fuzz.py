"""The settings reader under random input: no exception escapes, every problem is a named issue, and
a save never loses a setting or account that was read as valid (issue 14)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.store.settings import OPTIONS, Settings, SettingsError
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
