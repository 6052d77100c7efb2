"""desk.sanitize: the one place outside text is made safe to show (pure logic)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desk.sanitize import escape_controls, for_user, forget_secrets, quoted, register_secret


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    forget_secrets()


def test_registered_secret_and_credential_headers_are_masked() -> None:
    register_secret("test-key-0123abcd")
    text = 'binanceusdm {"msg": "bad key test-key-0123abcd", "X-MBX-APIKEY": "other-value"}'
    assert for_user(text) == 'binanceusdm {"msg": "bad key ***", "X-MBX-APIKEY": "***"}'


def test_html_error_page_becomes_one_line_of_words() -> None:
    page = ("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title><style>h1{color:red}</style>"
            "</head>\n<body><h1>502 Bad Gateway</h1>\n<hr>nginx &amp; friends</body></html>")
    assert for_user(f"binanceusdm GET /fapi 502 {page}") == (
        "binanceusdm GET /fapi 502 502 Bad Gateway 502 Bad Gateway nginx & friends")


def test_control_characters_are_escaped_and_long_text_is_cut() -> None:
    assert escape_controls("a\x1b]0;t\x07b\u202ec\x9b") == "a\\x1b]0;t\\x07b\\u202ec\\x9b"
    assert for_user("line one\r\n\tline two") == "line one line two"
    assert for_user("a\nb", multiline=True) == "a\nb"
    assert for_user("x" * 500, limit=10) == "x" * 9 + "…"
    assert len(for_user("y" * 5000)) == 300


def test_quoted_shows_a_short_safe_prefix() -> None:
    assert quoted("main") == "'main'"
    assert quoted("\x07" + "z" * 100) == "'\\x07" + "z" * 35 + "…'"
    assert quoted("it's") == "'it\\'s'"


def test_a_channel_url_shows_its_scheme_and_host_never_a_token() -> None:
    from desk.sanitize import masked_url

    assert masked_url("ntfys://ntfy.sh/my-secret-topic") == "ntfys://ntfy.sh/***"
    assert masked_url("json://127.0.0.1:8080/hook?token=abc") == "json://127.0.0.1/***"
    # Telegram and Discord put the token (or part of it) where a host would be
    assert "123456" not in masked_url("tgram://123456:AAbbCCdd/987654")
    assert masked_url("discord://111222333/tokentoken") == "discord://***/***"
    assert masked_url(None) == "no URL in the keyring"
