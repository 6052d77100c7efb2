"""The accounts dialog: add, edit, test and remove exchange accounts.

Account settings (venue, label, endpoint, flags) go to the settings file; API keys go to the
OS keyring through :mod:`desk.store.secrets` and nowhere else. "Test" reads the account on the
monitor's loop (or a worker thread when the monitor is not running) and reports back through a
queued signal: the GUI thread never waits on the network.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk.exchanges.config import KNOWN_VENUES, SECRET_LABELS
from desk.sanitize import for_user
from desk.store import secrets
from desk.store.settings import AccountConfig, SettingsError

#: the venues' names as their users know them (the ids stay in the settings file and the CLI)
VENUE_NAMES = {
    "binanceusdm": "Binance USDⓈ-M futures",
    "binancecoinm": "Binance COIN-M futures",
    "bybit": "Bybit",
    "okx": "OKX",
    "hyperliquid": "Hyperliquid",
}


def venue_id(text: str) -> str:
    """The venue id for what the venue box shows: a known venue's name, or a ccxt id typed in."""
    text = text.strip()
    for venue, name in VENUE_NAMES.items():
        if text == name:
            return venue
    return text


def venue_name(venue: str) -> str:
    return VENUE_NAMES.get(venue, venue)


def venue_secrets(venue: str) -> tuple[str, ...]:
    """The credential fields ``venue`` needs to be read (empty for unknown venues until checked)."""
    from desk.exchanges import required_secrets

    try:
        return tuple(required_secrets(venue))
    except Exception:  # an unknown venue: the form says so when saving
        return ()


class AccountForm(QDialog):
    """Add or edit one account. Secret fields follow the venue; empty means "keep the stored key"."""

    def __init__(self, settings: Any, existing: AccountConfig | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.existing = existing
        self.setWindowTitle("Edit account" if existing else "Add account")
        self.name = QLineEdit(existing.name if existing else "")
        self.name.setReadOnly(existing is not None)
        self.venue = QComboBox()
        self.venue.setEditable(True)  # any ccxt id with positions may be typed in
        self.venue.addItems([venue_name(v) for v in KNOWN_VENUES])
        self.venue.setCurrentText(venue_name(existing.venue) if existing else venue_name(KNOWN_VENUES[0]))
        self.venue.setToolTip("The exchange. Another ccxt exchange id (e.g. kraken futures: krakenfutures) "
                              "may be typed in.")
        self.label = QLineEdit(existing.label if existing else "")
        self.label.setPlaceholderText("optional, e.g. Main hedge account")
        self.name.setPlaceholderText("e.g. binance-main (letters, digits, - and _)")
        self.api_url = QLineEdit((existing.api_url or "") if existing else "")
        self.api_url.setPlaceholderText("optional, e.g. https://proxy.example.com")
        self.sandbox = QCheckBox("Testnet")
        self.sandbox.setChecked(bool(existing and existing.sandbox))
        self.demo_trading = QCheckBox("Demo trading environment")
        self.demo_trading.setChecked(bool(existing and existing.demo_trading))
        self.enabled = QCheckBox("Monitor this account")
        self.enabled.setChecked(existing.enabled if existing else True)
        self.wallet = QLineEdit((existing.wallet_address or "") if existing else "")
        self.wallet.setPlaceholderText("the public wallet address to read, e.g. 0x1234…abcd")
        self.form = QFormLayout()
        self.form.addRow("Name", self.name)
        self.form.addRow("Venue", self.venue)
        self.form.addRow("Label", self.label)
        self.form.addRow("API URL", self.api_url)
        self.form.addRow("Wallet address", self.wallet)
        self.form.addRow("", self.sandbox)
        self.form.addRow("", self.demo_trading)
        self.form.addRow("", self.enabled)
        self.secret_edits: dict[str, QLineEdit] = {}
        self.secret_box = QFormLayout()
        self.keyring_note = QLabel(_keyring_text())
        self.keyring_note.setWordWrap(True)
        self.keyring_note.setObjectName("muted")
        self.errors = QLabel("")
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet("color: #D55E00; font-weight: 600;")
        # room for a three-line message kept from the start: a message never moves the fields
        self.errors.setMinimumHeight(3 * self.errors.fontMetrics().lineSpacing() + 4)
        self.setMinimumWidth(480)
        self.errors.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(QLabel("<b>API keys</b> (read-only keys are enough)"))
        layout.addLayout(self.secret_box)
        layout.addWidget(self.keyring_note)
        layout.addStretch(1)
        layout.addWidget(self.errors)
        layout.addWidget(buttons)
        self.venue.currentTextChanged.connect(self._venue_changed)
        self._venue_changed(self.venue.currentText())

    def _venue_changed(self, text: str) -> None:
        venue = venue_id(text)
        # only what this venue needs: a wallet address for Hyperliquid (or a venue typed in),
        # a demo-trading switch where the venue has one
        self.form.setRowVisible(self.wallet, venue not in KNOWN_VENUES or venue == "hyperliquid")
        self.form.setRowVisible(self.demo_trading, venue in _DEMO_TRADING or venue not in KNOWN_VENUES)
        while self.secret_box.rowCount():
            self.secret_box.removeRow(0)
        self.secret_edits = {}
        name = self.existing.name if self.existing else None
        for field in venue_secrets(venue):
            edit = QLineEdit()
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setObjectName(f"secret:{field}")
            stored = name is not None and _stored(name, field)
            edit.setPlaceholderText("stored in the keyring — leave empty to keep" if stored else "required")
            self.secret_edits[field] = edit
            self.secret_box.addRow(SECRET_LABELS.get(field, field), edit)
        if not self.secret_edits:
            self.secret_box.addRow(QLabel("This venue needs no key to read an account."))

    def save(self) -> None:
        name = self.name.text().strip()
        venue = venue_id(self.venue.currentText())
        try:
            if self.existing is None and name in self.settings.accounts():
                raise SettingsError(f"an account named {name!r} already exists — choose another name")
            config = AccountConfig(
                name=name, venue=venue, label=self.label.text().strip(),
                api_url=self.api_url.text().strip() or None, sandbox=self.sandbox.isChecked(),
                demo_trading=self.demo_trading.isChecked(), enabled=self.enabled.isChecked(),
                wallet_address=(self.wallet.text().strip() or None) if not self.wallet.isHidden() else
                (self.existing.wallet_address if self.existing else None))
        except SettingsError as exc:
            self.errors.setText(str(exc))
            return
        fields = venue_secrets(venue)
        if not fields and venue not in KNOWN_VENUES:
            try:
                from desk.exchanges.config import check_venue

                check_venue(venue)
            except Exception as exc:
                self.errors.setText(str(exc))
                return
        values = {f: e.text() for f, e in self.secret_edits.items() if e.text()}
        missing = [SECRET_LABELS.get(f, f) for f in fields if f not in values and not _stored(name, f)]
        if missing:
            self.errors.setText(f"{', '.join(missing)} missing for {name!r}: paste the key from the venue's "
                                "API management page (a read-only key is enough).")
            return
        try:
            if values:
                secrets.put_account(name, values)
            self.settings.put_account(config)
            self.settings.save()
        except (secrets.SecretStoreError, SettingsError, OSError) as exc:
            self.errors.setText(str(exc))
            return
        finally:
            for edit in self.secret_edits.values():
                edit.clear()  # keys do not linger in the widgets
        self.config = config
        self.accept()


_DEMO_TRADING = frozenset({"binanceusdm", "binancecoinm", "bybit", "okx"})


def _stored(account: str, field: str) -> bool:
    try:
        return secrets.has(account, field)
    except secrets.SecretStoreError:
        return False


def _keyring_text() -> str:
    name = secrets.backend_name()
    problem = secrets.insecurity()
    if problem:
        return f"Keys cannot be stored: {problem}. {secrets.HOW_TO_FIX}"
    return f"Keys are stored in {_keyring_words(name)}, never in the settings file."


def _keyring_words(backend: str) -> str:
    """The keyring in words a person knows (the backend's Python class is for the log)."""
    lowered = backend.lower()
    for part, words in (("secretservice", "the desktop keyring (Secret Service)"),
                        ("kwallet", "KDE Wallet"), ("macos", "the macOS Keychain"),
                        ("windows", "the Windows Credential Manager"),
                        ("memkeyring", "an in-memory keyring (tests)")):
        if part in lowered:
            return words
    return "the OS keyring"


class _TestRunner(QObject):
    finished = Signal(str, bool, str)  # account, ok, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)


class AccountsDialog(QDialog):
    def __init__(self, settings: Any, *, monitor: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("desk — accounts")
        self.settings = settings
        self.monitor = monitor
        self.changed = False
        self.touched: set[str] = set()  # accounts added, edited or removed: the app applies them live
        self.results: dict[str, tuple[bool, str]] = {}
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._update_buttons)
        self.empty = QLabel("<b>No accounts yet.</b><br>Press <b>Add…</b> to connect an exchange: a "
                            "read-only API key is enough (Hyperliquid needs only the wallet address)."
                            "<br>To look around first, start desk with <code>desk --demo</code>.")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("muted")
        self.add_button = QPushButton("&Add…")
        self.edit_button = QPushButton("&Edit…")
        self.test_button = QPushButton("&Test")
        self.remove_button = QPushButton("&Remove")
        self.add_button.clicked.connect(self.add)
        self.edit_button.clicked.connect(self.edit)
        self.test_button.clicked.connect(self.test)
        self.remove_button.clicked.connect(self.remove)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keyring = QLabel(_keyring_text())
        self.keyring.setWordWrap(True)
        self.keyring.setObjectName("muted")
        self.runner = _TestRunner(self)
        self.runner.finished.connect(self._test_finished, Qt.ConnectionType.QueuedConnection)
        side = QVBoxLayout()
        for button in (self.add_button, self.edit_button, self.test_button, self.remove_button):
            side.addWidget(button)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addWidget(self.empty, 1)
        row.addLayout(side)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.keyring)
        layout.addWidget(close)
        self.resize(620, 380)
        self.refresh()

    def refresh(self) -> None:
        current = self.selected_name()
        self.list.clear()
        for name, cfg in self.settings.accounts().items():
            where = " · testnet" if cfg.sandbox else " · demo trading" if cfg.demo_trading else ""
            off = " · disabled" if not cfg.enabled else ""
            label = f" ({cfg.label})" if cfg.label else ""
            item = QListWidgetItem(f"{name} — {venue_name(cfg.venue)}{where}{off}{label}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.list.addItem(item)
            if name == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        empty = self.list.count() == 0
        self.list.setVisible(not empty)
        self.empty.setVisible(empty)
        self._update_buttons()

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        has = self.selected_name() is not None
        for button in (self.edit_button, self.test_button, self.remove_button):
            button.setEnabled(has)

    def add(self) -> None:
        form = AccountForm(self.settings, parent=self)
        if form.exec():
            self.changed = True
            self.touched.add(form.config.name)
            self.refresh()
            self.status.setText(f"Added {form.config.name}. Use Test to check the key.")

    def edit(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        form = AccountForm(self.settings, self.settings.accounts()[name], parent=self)
        if form.exec():
            self.changed = True
            self.touched.update({name, form.config.name})
            self.refresh()
            self.status.setText(f"Saved {name}.")

    def remove(self, confirm: bool = True) -> None:
        name = self.selected_name()
        if name is None:
            return
        if confirm and QMessageBox.question(
                self, "Remove account", f"Remove {name!r} and delete its keys from the keyring?") \
                != QMessageBox.StandardButton.Yes:
            return
        try:
            removed = secrets.delete_account(name)
            self.settings.remove_account(name)
            self.settings.save()
        except (secrets.SecretStoreError, SettingsError, OSError) as exc:
            self.status.setText(f"Could not remove {name}: {for_user(exc)}")
            return
        self.changed = True
        self.touched.add(name)
        self.refresh()
        self.status.setText(f"Removed {name} ({len(removed)} key(s) deleted from the keyring).")

    # -- test ------------------------------------------------------------------------------

    def test(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        account = self.settings.accounts()[name]
        self.status.setText(f"Testing {name}…")
        self.test_button.setEnabled(False)
        coro = self._probe(account)
        if self.monitor is not None and getattr(self.monitor, "running", False):
            future = self.monitor.submit(coro)
            future.add_done_callback(lambda f: self._deliver(name, f))
        else:
            threading.Thread(target=self._run_in_thread, args=(name, coro), name="desk-account-test",
                             daemon=True).start()

    def _run_in_thread(self, name: str, coro: Coroutine[Any, Any, str]) -> None:
        try:
            message = asyncio.run(coro)
        except Exception as exc:
            self.runner.finished.emit(name, False, _failure(exc))
            return
        self.runner.finished.emit(name, True, message)

    def _deliver(self, name: str, future: Any) -> None:
        try:
            message = future.result()
        except Exception as exc:
            self.runner.finished.emit(name, False, _failure(exc))
            return
        self.runner.finished.emit(name, True, message)

    async def _probe(self, account: AccountConfig) -> str:
        from desk.exchanges import ReaderConfig, open_reader, required_secrets
        from desk.store.paths import desk_paths

        creds = secrets.load_secrets(account.name, required_secrets(account.venue))
        cfg = ReaderConfig(name=account.name, venue=account.venue, api_url=account.api_url,
                           sandbox=account.sandbox, demo_trading=account.demo_trading,
                           wallet_address=account.wallet_address,
                           markets_cache_dir=desk_paths().markets_cache_dir)
        reader = open_reader(cfg, creds)
        try:
            snap = await reader.snapshot()
            note = ""
            try:
                from desk.exchanges.probe import key_permissions

                perms = await key_permissions(reader)
                warnings = perms.warnings() if perms.known else []
                if warnings:
                    note = " WARNING: " + "; ".join(warnings)
                elif perms.known:
                    note = " Key is read-only."
                else:
                    note = " Key permissions unknown: make sure it is read-only."
            except Exception as exc:
                note = f" Could not check the key's permissions: {exc}"
        finally:
            await reader.close()
        return (f"OK — read access works: {len(snap.account.positions)} open position(s), "
                f"wallets {', '.join(snap.account.wallets) or 'none'}.{note}")

    def _test_finished(self, name: str, ok: bool, message: str) -> None:
        message = for_user(message, limit=600)  # it quotes the exchange: an echoed key is masked
        self.results[name] = (ok, message)
        self.status.setText(f"{name}: {message}" if ok else f"{name}: FAILED — {message}")
        self._update_buttons()


def _failure(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    prefix = f"[{kind.value}] " if kind is not None else ""
    return f"{prefix}{exc}"
