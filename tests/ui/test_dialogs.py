"""The settings dialog (generated from the declarations) and the accounts dialog (keys → keyring)."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit

from desk.store.paths import desk_paths
from desk.store.settings import GROUPS, OPTIONS, OPTIONS_BY_KEY, AccountConfig, Settings
from desk.ui.accounts_dialog import AccountForm, AccountsDialog
from desk.ui.settings_dialog import SettingsDialog
from tests.fake_exchange import FakeExchange
from tests.support.memkeyring import MemoryKeyring


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


def settings_file() -> Path:
    return desk_paths().settings_file


# --- settings ---------------------------------------------------------------------------------


def test_the_dialog_has_one_editor_per_declared_option(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert set(dialog.editors) == {o.key for o in OPTIONS}
    # a tab per group worth one (issue 19): no tab holds a single field; a lone option joins the
    # tab before it, under its group's name
    assert dialog.tabs.count() == sum(1 for g in GROUPS if sum(o.group == g for o in OPTIONS) > 1)
    for index in range(dialog.tabs.count()):
        page = dialog.tabs.widget(index)
        assert sum(page.isAncestorOf(e) for e in dialog.editors.values()) > 1, dialog.tabs.tabText(index)
    for opt in OPTIONS:
        editor = dialog.editors[opt.key]
        expected = QCheckBox if opt.type is bool else QComboBox if opt.choices else QLineEdit
        assert isinstance(editor, expected), opt.key
        assert opt.key in editor.toolTip()  # the help names the key
        if isinstance(editor, QLineEdit):  # an example of a value it takes
            assert editor.placeholderText().startswith("e.g. "), opt.key
        if opt.secret:
            assert editor.echoMode() == QLineEdit.EchoMode.Password


def test_valid_values_are_written(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.editors["ui.refresh_hz"].setText("8")
    dialog.editors["ui.theme"].setCurrentText("light")
    dialog.editors["alerts.sound"].setChecked(True)
    dialog.save()
    assert dialog.result() == dialog.DialogCode.Accepted
    reloaded = Settings.load()
    assert reloaded.get("ui.refresh_hz") == 8.0
    assert reloaded.get("ui.theme") == "light"
    assert reloaded.get("alerts.sound") is True
    assert reloaded.is_default("alerts.distance_warning")  # untouched options stay default


@pytest.mark.parametrize(("key", "text"), [("ui.refresh_hz", "fast"), ("ui.refresh_hz", "500"),
                                           ("alerts.quiet_hours", "late"), ("logs.backups", "2.5")])
def test_invalid_values_are_rejected_with_the_label_named(qtbot, settings, key, text) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.editors[key].setText(text)
    dialog.save()
    assert dialog.result() != dialog.DialogCode.Accepted
    # the field by the label beside it, not by its key (issue 19)
    assert f"“{OPTIONS_BY_KEY[key].label}”" in dialog.errors.text() and key not in dialog.errors.text()
    assert dialog.editors[key].styleSheet()  # the field is marked
    assert not settings_file().exists() or key.split(".")[1] not in settings_file().read_text()


def test_thresholds_must_be_in_order(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.editors["alerts.distance_critical"].setText("20")  # 20 %: worse than the 10 % warning
    dialog.save()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "“Critical at distance”" in dialog.errors.text() and "“Warn at distance”" in dialog.errors.text()
    assert "alerts.distance_critical" not in dialog.errors.text()
    assert Settings.load().is_default("alerts.distance_critical")


# --- accounts ---------------------------------------------------------------------------------


def fake_key() -> tuple[str, str]:
    return "test-key-" + pysecrets.token_hex(8), "test-secret-" + pysecrets.token_hex(16)


def test_keys_go_to_the_keyring_never_the_settings_file(  # type: ignore[no-untyped-def]
        qtbot, settings, memory_keyring: MemoryKeyring) -> None:
    api_key, secret = fake_key()
    form = AccountForm(settings)
    qtbot.addWidget(form)
    form.name.setText("main")
    form.venue.setCurrentText("binanceusdm")
    assert set(form.secret_edits) == {"apiKey", "secret"}  # fields follow the venue
    form.secret_edits["apiKey"].setText(api_key)
    form.secret_edits["secret"].setText(secret)
    form.save()
    assert form.result() == form.DialogCode.Accepted
    assert memory_keyring.items[("desk", "main:apiKey")] == api_key
    assert memory_keyring.items[("desk", "main:secret")] == secret
    text = settings_file().read_text()
    assert "binanceusdm" in text
    assert api_key not in text and secret not in text
    assert all(not e.text() for e in form.secret_edits.values())  # not left in the widgets


def test_okx_needs_a_passphrase_and_missing_keys_are_named(qtbot, settings, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    form = AccountForm(settings)
    qtbot.addWidget(form)
    form.name.setText("okx1")
    form.venue.setCurrentText("okx")
    assert set(form.secret_edits) == {"apiKey", "secret", "password"}
    form.secret_edits["apiKey"].setText(fake_key()[0])
    form.save()
    assert form.result() != form.DialogCode.Accepted
    assert "API secret" in form.errors.text() and "API passphrase" in form.errors.text()
    assert "okx1" not in Settings.load().accounts()
    assert memory_keyring.items == {}


def test_bad_account_names_are_refused(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    form = AccountForm(settings)
    qtbot.addWidget(form)
    form.name.setText("bad/name")
    form.venue.setCurrentText("hyperliquid")
    form.save()
    assert form.result() != form.DialogCode.Accepted
    assert "bad/name" in form.errors.text()


def test_remove_deletes_the_account_and_its_keys(qtbot, settings, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    from desk.store import secrets

    settings.put_account(AccountConfig(name="main", venue="bybit"))
    settings.save()
    secrets.put_account("main", dict(zip(("apiKey", "secret"), fake_key(), strict=True)))
    dialog = AccountsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.selected_name() == "main"
    # says which keyring holds the keys, in words: no Python class name on screen (issue 19)
    assert "in-memory keyring" in dialog.keyring.text() and "MemoryKeyring" not in dialog.keyring.text()
    dialog.remove(confirm=False)
    assert dialog.touched == {"main"}  # the running dashboard stops watching it (test_accounts_live)
    assert memory_keyring.items == {}
    assert Settings.load().accounts() == {}
    assert dialog.list.count() == 0


@pytest.fixture
def fake_binance() -> Iterator[tuple[FakeExchange, str, str]]:
    api_key, secret = fake_key()
    server = FakeExchange()
    server.add_key(api_key, secret)
    with server.running() as running:
        yield running, api_key, secret


def test_test_reads_the_account_without_blocking_the_gui(qtbot, settings, fake_binance) -> None:  # type: ignore[no-untyped-def]
    from desk.store import secrets

    server, api_key, secret = fake_binance
    settings.put_account(AccountConfig(name="main", venue="binanceusdm", api_url=server.url))
    settings.save()
    secrets.put_account("main", {"apiKey": api_key, "secret": secret})
    dialog = AccountsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.test()
    assert dialog.status.text() == "Testing main…"  # returned at once; the read runs elsewhere
    qtbot.waitUntil(lambda: "main" in dialog.results, timeout=20_000)
    ok, message = dialog.results["main"]
    assert ok, message
    assert "read access works" in message and "open position" in message
    assert api_key not in dialog.status.text() and secret not in dialog.status.text()


def test_a_failing_test_says_why(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    from desk.store import secrets

    settings.put_account(AccountConfig(name="main", venue="binanceusdm", api_url="http://127.0.0.1:9"))
    settings.save()
    secrets.put_account("main", dict(zip(("apiKey", "secret"), fake_key(), strict=True)))
    dialog = AccountsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.test()
    qtbot.waitUntil(lambda: "main" in dialog.results, timeout=30_000)
    ok, message = dialog.results["main"]
    assert not ok
    assert "FAILED" in dialog.status.text()
    assert message.startswith("[network]") or message.startswith("[exchange_down]"), message


def test_thresholds_shown_as_percent_are_entered_as_percent(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    """Every surface shows distances and margin ratios as percent; the dialog takes them as percent
    too, and the settings file keeps the fraction (issue 15)."""
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.editors["alerts.distance_warning"].text() == "10"  # default 0.10
    assert dialog.editors["alerts.margin_ratio_critical"].text() == "80"  # default 0.8
    assert dialog.editors["risk.target_margin_ratio"].text() == "50"
    labels = {label.text() for label in dialog.findChildren(QLabel)}
    assert "Warn at distance (%)" in labels and "Critical at margin ratio (%)" in labels
    dialog.editors["alerts.distance_warning"].setText("12.5")
    dialog.editors["alerts.margin_ratio_warning"].setText("40 %")
    dialog.save()
    assert dialog.result() == dialog.DialogCode.Accepted
    reloaded = Settings.load()
    assert reloaded.get("alerts.distance_warning") == 0.125
    assert reloaded.get("alerts.margin_ratio_warning") == 0.4


def test_a_percent_out_of_range_names_the_percent_range(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.editors["alerts.margin_ratio_critical"].setText("150")  # 150 %: past liquidation
    dialog.save()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert "“Critical at margin ratio”: '150' is not allowed — expected a percent from 1 to 100" \
        in dialog.errors.text()
