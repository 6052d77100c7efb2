"""Issue 19: the accounts dialog guides — venue names a person knows, only the fields the venue
needs, fields that keep their size when a message appears, an empty state, buttons that wait for
a selection, no Python class names on screen."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel, QLineEdit

from desk.store.settings import AccountConfig, Settings
from desk.ui.accounts_dialog import AccountForm, AccountsDialog, venue_id


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


def _visible_rows(form: AccountForm) -> set[str]:
    out = set()
    for row in range(form.form.rowCount()):
        label = form.form.itemAt(row, form.form.ItemRole.LabelRole)
        field = form.form.itemAt(row, form.form.ItemRole.FieldRole)
        widget = field.widget() if field is not None else None
        if widget is None or widget.isHidden():
            continue
        text = label.widget().text() if label is not None and isinstance(label.widget(), QLabel) else ""
        out.add(text or getattr(widget, "text", lambda: "")())
    return out


def test_venues_by_the_names_people_know_and_only_their_fields(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    form = AccountForm(settings)
    qtbot.addWidget(form)
    form.show()
    names = [form.venue.itemText(i) for i in range(form.venue.count())]
    assert names == ["Binance USDⓈ-M futures", "Binance COIN-M futures", "Bybit", "OKX", "Hyperliquid"]
    assert "binanceusdm" not in names
    form.venue.setCurrentText("Binance USDⓈ-M futures")
    assert venue_id(form.venue.currentText()) == "binanceusdm"
    rows = _visible_rows(form)
    assert "Wallet address" not in rows  # Binance reads with a key, not a wallet
    assert set(form.secret_edits) == {"apiKey", "secret"}  # no passphrase
    form.venue.setCurrentText("OKX")
    assert set(form.secret_edits) == {"apiKey", "secret", "password"}
    form.venue.setCurrentText("Hyperliquid")
    assert "Wallet address" in _visible_rows(form) and form.secret_edits == {}
    assert "Demo trading environment" not in _visible_rows(form)
    # every text field says what goes in it
    for edit in (form.name, form.label, form.api_url, form.wallet):
        assert edit.placeholderText(), edit


def _field_geometries(form: AccountForm) -> dict[str, object]:
    return {e.objectName() or str(id(e)): e.geometry() for e in form.findChildren(QLineEdit) if e.isVisible()}


def test_a_message_keeps_the_fields_their_size(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    form = AccountForm(settings)
    qtbot.addWidget(form)
    with qtbot.waitExposed(form):  # a context manager: called bare it waits for nothing
        form.show()
    form.venue.setCurrentText("OKX")
    form.layout().activate()  # the venue's rows laid out, as the dialog is when the trader sees it
    before = _field_geometries(form)
    size_before = form.size()
    message_room = form.errors.height()
    form.name.setText("okx1")
    form.save()  # three keys missing: a message of two or three lines
    assert "missing" in form.errors.text()
    form.layout().activate()
    after = _field_geometries(form)
    assert after == before and form.size() == size_before
    # the room for the message was there from the start: nothing moved to make it
    assert form.errors.height() == message_room >= 3 * form.errors.fontMetrics().lineSpacing()


def test_an_empty_list_says_how_to_start_and_buttons_wait_for_a_selection(qtbot, settings) -> None:  # type: ignore[no-untyped-def]
    dialog = AccountsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.empty.isVisible() and not dialog.list.isVisible()
    assert "Add…" in dialog.empty.text() and "desk --demo" in dialog.empty.text()
    for button in (dialog.edit_button, dialog.test_button, dialog.remove_button):
        assert not button.isEnabled()
    settings.put_account(AccountConfig(name="main", venue="binanceusdm"))
    settings.save()
    dialog.refresh()
    assert dialog.list.isVisible() and not dialog.empty.isVisible()
    assert dialog.list.item(0).text() == "main — Binance USDⓈ-M futures"
    assert dialog.edit_button.isEnabled()
    dialog.list.setCurrentItem(None)
    for button in (dialog.edit_button, dialog.test_button, dialog.remove_button):
        assert not button.isEnabled()
    texts = " ".join(w.text() for w in dialog.findChildren(QLabel))
    assert "keyring.backends" not in texts and "Keyring" not in texts.replace("keyring", "")
