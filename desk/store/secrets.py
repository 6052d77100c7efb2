"""Exchange credentials in the OS keyring — and nowhere else.

Each credential is one keyring item: service ``desk``, username ``ACCOUNT:FIELD`` (FIELD is the
ccxt credential name: ``apiKey``, ``secret``, ``password``…), so the OS keyring tool shows what
each item is and an account's items can be removed together.

Only a secure backend is accepted for writing: the Secret Service (GNOME Keyring, KWallet,
KeePassXC), macOS Keychain, Windows Credential Locker, or an encrypted keyring. keyring's
``fail`` and ``null`` backends, plaintext files (keyrings.alt) and a chainer that would end in
one of those are refused with a message saying what to install or unlock — never a silent
plaintext fallback. Every value read or written is registered with :mod:`desk.store.redact`,
so it is masked in any log line or crash report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

SERVICE = "desk"

# Every credential name ccxt knows: `delete_account` removes all of them, whatever the venue.
ALL_FIELDS = ("apiKey", "secret", "password", "uid", "login", "privateKey", "walletAddress", "token",
              "accountId")

HOW_TO_FIX = (
    "Install and unlock a Secret Service keyring — GNOME Keyring (`sudo apt install gnome-keyring`), "
    "KWallet, or KeePassXC with Secret Service integration enabled — in a desktop session with D-Bus. "
    "On a headless machine run desk inside `dbus-run-session` with `gnome-keyring-daemon --unlock` "
    "started first. To pick a backend explicitly, set PYTHON_KEYRING_BACKEND (e.g. "
    "keyring.backends.SecretService.Keyring). desk never stores keys in a plaintext file."
)


class SecretStoreError(Exception):
    """The keyring cannot be used; the message says why and what to do."""


def _backend() -> KeyringBackend:
    """The active backend; one that cannot even be loaded is a SecretStoreError saying which and why."""
    try:
        return keyring.get_keyring()
    except Exception as exc:  # keyring imports the configured class lazily, here
        raise SecretStoreError(_unloadable(exc)) from None


def _unloadable(exc: Exception) -> str:
    from desk.sanitize import for_user, quoted

    named = os.environ.get("PYTHON_KEYRING_BACKEND")
    where = (f"PYTHON_KEYRING_BACKEND={quoted(named, 80)}" if named
             else "the keyring configuration (keyringrc.cfg)")
    return (f"the keyring backend named in {where} cannot be loaded ({type(exc).__name__}: "
            f"{for_user(exc, limit=120)}) — install the package that provides it, or set "
            f"PYTHON_KEYRING_BACKEND to an installed backend (e.g. keyring.backends.SecretService.Keyring), "
            f"or unset it to let keyring choose")


def _effective(backend: KeyringBackend) -> KeyringBackend | None:
    """The backend that would actually store a value (a chainer writes to its first backend)."""
    chained = getattr(backend, "backends", None)
    if type(backend).__name__ == "ChainerBackend":
        return chained[0] if chained else None
    return backend


def _describe(backend: KeyringBackend | None) -> str:
    if backend is None:
        return "none"
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def backend_name() -> str:
    """A readable name of the keyring backend in use (e.g. for `desk accounts list`)."""
    try:
        backend = _backend()
    except SecretStoreError:
        return "unavailable (the configured backend cannot be loaded)"
    effective = _effective(backend)
    if effective is backend:
        return _describe(backend)
    return f"{_describe(backend)} → {_describe(effective)}"


def insecurity(backend: KeyringBackend | None = None) -> str | None:
    """Why ``backend`` (default: the active one) must not hold keys, or None when it may."""
    if backend is None:
        try:
            backend = _backend()
        except SecretStoreError as exc:
            return str(exc)
    effective = _effective(backend)
    if effective is None:
        return "no keyring backend is available"
    module = type(effective).__module__
    name = type(effective).__qualname__
    if module.startswith("keyring.backends.fail"):
        return "no keyring backend is available (keyring fell back to its 'fail' backend)"
    if module.startswith("keyring.backends.null"):
        return "the keyring is disabled (the 'null' backend stores nothing)"
    if "plaintext" in name.lower() or "plaintext" in module.lower() or module.startswith("keyrings.alt.file"):
        return f"the keyring backend {module}.{name} stores secrets in a plaintext file"
    return None


def require_secure() -> None:
    """Raise SecretStoreError unless keys would go to a secure keyring."""
    reason = insecurity()
    if reason is not None:
        raise SecretStoreError(f"cannot store API keys safely: {reason}. {HOW_TO_FIX}")


def _username(account: str, field: str) -> str:
    if not account or ":" in field:
        raise ValueError(f"bad keyring item name {account!r}/{field!r}")
    return f"{account}:{field}"


def _register(value: str | None) -> None:
    if not value:
        return
    try:
        from desk.store.redact import register_secret
    except ImportError:  # pragma: no cover - redact ships with desk.store
        return
    register_secret(value)


def _explain(exc: Exception, action: str) -> SecretStoreError:
    if isinstance(exc, keyring.errors.KeyringLocked):
        return SecretStoreError(f"cannot {action}: the keyring is locked — unlock it (e.g. log in to the "
                                f"desktop session or unlock the 'Login' keyring) and try again")
    if isinstance(exc, keyring.errors.NoKeyringError):
        return SecretStoreError(f"cannot {action}: no keyring backend is available. {HOW_TO_FIX}")
    from desk.sanitize import for_user

    return SecretStoreError(f"cannot {action}: the keyring failed ({type(exc).__name__}: {for_user(exc)}). "
                            f"Is the keyring service running and unlocked?")


def put(account: str, field: str, value: str) -> None:
    """Store one credential. Refuses insecure backends (SecretStoreError)."""
    if not value:
        raise ValueError(f"empty {field} for {account}")
    require_secure()
    _register(value)
    try:
        _backend().set_password(SERVICE, _username(account, field), value)
    except keyring.errors.KeyringError as exc:
        raise _explain(exc, f"store the {field} of {account!r}") from None


def get(account: str, field: str) -> str | None:
    """One credential, or None when it is not stored."""
    backend = _backend()
    try:
        value = backend.get_password(SERVICE, _username(account, field))
    except keyring.errors.KeyringError as exc:
        raise _explain(exc, f"read the {field} of {account!r}") from None
    _register(value)
    return value


def has(account: str, field: str) -> bool:
    return get(account, field) is not None


def load_secrets(account: str, fields: Iterable[str]) -> Mapping[str, str]:
    """The stored credentials of ``account`` among ``fields`` (missing ones are left out)."""
    found: dict[str, str] = {}
    for field in fields:
        value = get(account, field)
        if value:
            found[field] = value
    return found


def delete_account(account: str, fields: Iterable[str] = ALL_FIELDS) -> list[str]:
    """Remove every stored credential of ``account``; returns the fields that were removed."""
    removed = []
    backend = _backend()
    for field in fields:
        try:
            if backend.get_password(SERVICE, _username(account, field)) is None:
                continue
            backend.delete_password(SERVICE, _username(account, field))
            removed.append(field)
        except keyring.errors.PasswordDeleteError:
            continue
        except keyring.errors.KeyringError as exc:
            raise _explain(exc, f"remove the keys of {account!r}") from None
    return removed


def put_account(account: str, values: Mapping[str, str]) -> None:
    """Store several credentials; on failure, remove what this call stored."""
    require_secure()
    stored: list[str] = []
    try:
        for field, value in values.items():
            put(account, field, value)
            stored.append(field)
    except BaseException:
        delete_account(account, stored)
        raise


# --- alert channel URLs ----------------------------------------------------------------------------
# An Apprise URL carries the channel's token (a bot token, a webhook secret, a password), so the
# whole URL is one keyring item: service ``desk-alert-channel``, username the channel's name.

CHANNEL_SERVICE = "desk-alert-channel"


def put_channel_url(name: str, url: str) -> None:
    """Store a channel's URL. Refuses insecure backends (SecretStoreError)."""
    if not url:
        raise ValueError(f"empty URL for channel {name}")
    require_secure()
    register_channel_url(url)
    try:
        _backend().set_password(CHANNEL_SERVICE, name, url)
    except keyring.errors.KeyringError as exc:
        raise _explain(exc, f"store the URL of alert channel {name!r}") from None


def channel_url(name: str) -> str | None:
    """A channel's URL, or None when it is not stored."""
    try:
        value = _backend().get_password(CHANNEL_SERVICE, name)
    except keyring.errors.KeyringError as exc:
        raise _explain(exc, f"read the URL of alert channel {name!r}") from None
    if value:
        register_channel_url(value)
    return value


def delete_channel_url(name: str) -> bool:
    try:
        if _backend().get_password(CHANNEL_SERVICE, name) is None:
            return False
        _backend().delete_password(CHANNEL_SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise _explain(exc, f"remove the URL of alert channel {name!r}") from None
    return True


def register_channel_url(url: str) -> None:
    """Mask the URL and every part of it that may be a token (user, password, path segments, query
    values) in logs, errors and the alert log — a library may quote any of them when it fails."""
    import urllib.parse

    _register(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return
    host = parts.netloc.rpartition("@")[2]
    pieces = [parts.username, parts.password, *parts.path.split("/"), parts.fragment]
    pieces += [v for _, v in urllib.parse.parse_qsl(parts.query)]
    # Many services keep a token where a host would be (tgram://BOT_TOKEN/…, pover://USER@TOKEN,
    # slack://T…/B…/C…): a "host" that is no host name (no dot, not localhost) is a secret too.
    if "." not in host and not host.startswith(("localhost", "[")):
        pieces.append(host)
    for piece in pieces:
        # short pieces ("v1", "hook") would mask ordinary words
        if piece and len(piece) >= 6:
            _register(urllib.parse.unquote(piece))
