"""Redaction of secrets in text and log records (unit level; the end-to-end canary is in test_logs)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

import pytest

from desk.store.redact import RedactingFilter, forget_secrets, redact, register_secret


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def fake_token(n: int = 24) -> str:
    """An obviously fake credential made up for the test run."""
    return "FAKE" + secrets.token_hex(n)


def test_registered_secret_is_masked_anywhere_including_url_encoded() -> None:
    value = "fake+pass/word=" + secrets.token_hex(3)
    register_secret(value)
    from urllib.parse import quote

    text = f"x{value}y and {quote(value, safe='')} end"
    out = redact(text)
    assert value not in out and quote(value, safe="") not in out
    assert out.startswith("x***y")


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


@pytest.mark.parametrize(
    "template",
    [
        "GET https://127.0.0.1/fapi/v3/account?timestamp=1&recvWindow=10000&signature={s}",
        "headers {{'X-MBX-APIKEY': '{s}', 'Content-Type': 'application/json'}}",
        "X-BAPI-API-KEY: {s}",
        "X-BAPI-SIGN: {s}",
        "{{'OK-ACCESS-KEY': '{s}', 'OK-ACCESS-PASSPHRASE': '{s}'}}",
        "{{\"apiKey\": \"{s}\", \"secret\": \"{s}\"}}",
        "POST /fapi/v1/listenKey -> {{\"listenKey\":\"{s}\"}}",
        "wss://127.0.0.1/private/ws?listenKey={s}",
        "password={s}",
        "Authorization: Bearer {s}",
        "{{'KEY': '{s}', 'SIGN': '{s}'}}",
        "privateKey='{s}'",
        "passphrase: {s}",
    ],
)
def test_credential_patterns_are_masked(template: str) -> None:
    s = "zz" + secrets.token_hex(4)  # short and unregistered: only the pattern can catch it
    text = template.format(s=s)
    out = redact(text)
    assert s not in out, out
    assert "***" in out


def test_ethereum_private_key_and_long_tokens_are_masked() -> None:
    key = "0x" + secrets.token_hex(32)
    bare = secrets.token_hex(32)
    token = fake_token(16)
    out = redact(f"key {key} bare {bare} token {token}")
    assert key not in out and key[2:] not in out and bare not in out and token not in out


def test_ordinary_text_is_left_alone() -> None:
    text = ("BTC/USDT:USDT long 0.5 @ 65000.0 liq 58123.4 margin ratio 0.42; "
            "key alerts.distance_warning; KEYBOARD; /tmp/desk-home0/logs/desk.log")
    assert redact(text) == text


def test_filter_redacts_message_args_and_traceback() -> None:
    canary = fake_token()
    register_secret(canary)
    try:
        raise RuntimeError(f"boom with {canary}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "msg %s and %r", (canary, canary),
                                   sys.exc_info())
    record.stack_info = f"stack {canary}"
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert canary not in formatted
    assert "RuntimeError: boom with ***" in formatted
    assert "msg *** and '***'" in formatted
