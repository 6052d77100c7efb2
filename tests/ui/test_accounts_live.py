"""Account changes from the accounts dialog take effect in the running dashboard, no restart.

A real DeskController with its real Runtime reading a fake Binance (real ccxt, loopback HTTP).
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication

from desk.store import secrets
from desk.store.settings import AccountConfig, Settings
from desk.ui.app import DeskController, GuiOptions
from tests.fake_exchange import FakeExchange


def keys() -> dict[str, str]:
    return {"apiKey": "test-key-" + pysecrets.token_hex(8),
                "secret": "test-secret-" + pysecrets.token_hex(16)}


@pytest.fixture
def server() -> Iterator[FakeExchange]:
    fake = FakeExchange(("binance",))
    with fake.running() as running:
        yield running


def add_account(settings: Settings, server: FakeExchange, name: str) -> None:
    k = keys()
    server.add_key(k["apiKey"], k["secret"])
    secrets.put_account(name, k)
    settings.put_account(AccountConfig(name=name, venue="binanceusdm", api_url=server.url))
    settings.save()


@pytest.fixture
def controller(qtbot, monkeypatch) -> Iterator[DeskController]:  # type: ignore[no-untyped-def]
    from desk.ui import main_window as main_window_module

    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    made: list[DeskController] = []

    def make(settings: Settings) -> DeskController:
        app = QApplication.instance()
        c = DeskController(app, settings, GuiOptions())  # type: ignore[arg-type]
        c.window.allow_close = True  # closing asks "quit?" without a tray: not in a test
        qtbot.addWidget(c.window)
        made.append(c)
        c.start()
        return c

    yield make  # type: ignore[misc]
    for c in made:
        c.shutdown()


def accounts_shown(c: DeskController) -> set[str]:
    return {r.risk.account for r in c.window.model.rows()}


def test_added_and_removed_accounts_are_watched_at_once(qtbot, controller, server) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.load()
    add_account(settings, server, "main")
    c = controller(settings)
    qtbot.waitUntil(lambda: accounts_shown(c) == {"main"}, timeout=15_000)
    add_account(settings, server, "second")
    with qtbot.waitSignal(c.accounts_applied, timeout=20_000) as applied:
        c.apply_account_changes({"second"})  # what File → Accounts does after the dialog
    assert applied.args == ["Accounts: second added"]
    qtbot.waitUntil(lambda: accounts_shown(c) == {"main", "second"}, timeout=15_000)
    settings.remove_account("main")
    settings.save()
    with qtbot.waitSignal(c.accounts_applied, timeout=20_000) as applied:
        c.apply_account_changes({"main"})
    assert applied.args == ["Accounts: main removed"]
    qtbot.waitUntil(lambda: accounts_shown(c) == {"second"}, timeout=15_000)
    # the cards follow the table in an event of their own (MainWindow.apply_snapshot): wait for it
    qtbot.waitUntil(lambda: set(c.window.accounts_panel.cards) == {"second"}, timeout=5_000)


def test_the_first_account_replaces_the_demo_venue(qtbot, controller, server) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.load()
    c = controller(settings)  # no account: the demo venue, said so
    qtbot.waitUntil(lambda: c.window.demo and c.window.model.rowCount() > 0, timeout=15_000)
    add_account(settings, server, "main")
    c.apply_account_changes({"main"})
    qtbot.waitUntil(lambda: accounts_shown(c) == {"main"} and not c.window.demo, timeout=20_000)
    assert c.runtime is not None and c.runtime.account_names == ("main",)
