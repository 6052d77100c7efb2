"""`desk config path | show | get KEY | set KEY VALUE | reset KEY` — where desk keeps things, and
the settings declared in :mod:`desk.store.settings`."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "config",
        description="Show and change desk's settings (stored as TOML in the config folder). "
                    "`desk config show` lists every key with its value and allowed values.")
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION")

    p = actions.add_parser("path", help="print where the settings, history (yours and the demo's), logs "
                                        "and cache are")
    p.add_argument("--json", action="store_true", help="print the locations as JSON")
    p.set_defaults(handler=_path)

    p = actions.add_parser("show", help="every setting by group; * marks values changed from the default")
    p.add_argument("--json", action="store_true", help="print {key: value} as JSON")
    p.add_argument("--all", action="store_true", help="also show each option's help and allowed values")
    p.set_defaults(handler=_show)

    p = actions.add_parser("get", help="print one setting's value")
    p.add_argument("key", metavar="KEY")
    p.set_defaults(handler=_get)

    p = actions.add_parser("set", help="change one setting (validated; saved at once)")
    p.add_argument("key", metavar="KEY")
    p.add_argument("value", metavar="VALUE")
    p.set_defaults(handler=_set)

    p = actions.add_parser("reset", help="put one setting back to its default")
    p.add_argument("key", metavar="KEY")
    p.set_defaults(handler=_reset)


def _load() -> Any:
    from desk.commands._support import warn_about_settings
    from desk.store.settings import Settings

    return warn_about_settings(Settings.load())


def _warn(settings: Any) -> None:
    """After a save: say so if it rewrote a damaged file (and where the old one is)."""
    from desk.commands._support import warn_about_settings

    warn_about_settings(settings)


def _user_error(exc: Exception) -> Exception:
    from desk.commands._support import UserError

    return UserError(str(exc))


def _path(args: argparse.Namespace) -> int:
    from desk.store.paths import desk_paths

    paths = desk_paths()
    rows = {
        "config": paths.config_dir,
        "settings": paths.settings_file,
        "data": paths.data_dir,
        "history": paths.history_db,
        "history-demo": paths.demo_history_db,
        "cache": paths.cache_dir,
        "logs": paths.log_dir,
    }
    if args.json:
        out: dict[str, Any] = {k: str(v) for k, v in rows.items()}
        out["portable"] = paths.portable
        print(json.dumps(out, indent=2))
        return 0
    width = max(map(len, rows))
    for name, value in rows.items():
        print(f"{name:<{width}}  {value}")
    source = "DESK_HOME / --home" if paths.portable else "the platform's standard folders"
    print(f"({'portable: ' if paths.portable else ''}locations come from {source})")
    return 0


def _shown(opt: Any, value: Any) -> str:
    if opt.secret and value:
        return "*** (set)"
    text = opt.format(value)
    if opt.type is str:
        text = json.dumps(text)
    return f"{text} {opt.unit}".rstrip()


def _show(args: argparse.Namespace) -> int:
    from desk.store.settings import GROUP_LABELS, GROUPS, OPTIONS, OPTIONS_BY_KEY

    settings = _load()
    if args.json:
        values = {o.key: "***" if o.secret and settings.get(o.key) else settings.get(o.key)
                  for o in OPTIONS}
        print(json.dumps(values, indent=2))
        return 0
    print(f"# {settings.path}" + ("" if settings.path.exists() else " (not written yet: all defaults)"))
    width = max(len(o.key) for o in OPTIONS)
    for group in GROUPS:
        print(f"\n[{group}] {GROUP_LABELS.get(group, '')}")
        for opt in (o for o in OPTIONS if o.group == group):
            value = settings.get(opt.key)
            changed = not settings.is_default(opt.key)
            mark = "*" if changed else " "
            line = f" {mark} {opt.key:<{width}}  {_shown(opt, value)}"
            if changed:
                line += f"   (default {_shown(opt, opt.default)})"
            print(line)
            if args.all:
                print(f"      {opt.label}: {opt.help} Allowed: {opt.allowed()}.")
    accounts = settings.accounts()
    if accounts:
        print("\n[accounts] (manage with `desk accounts`; keys are in the keyring, never here)")
        for cfg in accounts.values():
            flags = [f for f in ("sandbox", "demo_trading") if getattr(cfg, f)]
            if not cfg.enabled:
                flags.append("disabled")
            extra = f" ({', '.join(flags)})" if flags else ""
            print(f"   {cfg.name}: {cfg.venue}{extra}" + (f" — {cfg.label}" if cfg.label else ""))
    scopes = settings.override_scopes()
    if scopes:
        print("\n[overrides] alert settings per account or position")
        for scope in scopes:
            for key, value in settings.overrides(scope).items():
                print(f"   {scope}: {key} = {_shown(OPTIONS_BY_KEY[key], value)}")
    print("\n* = changed from the default. Change with `desk config set KEY VALUE`.")
    return 0


def _get(args: argparse.Namespace) -> int:
    from desk.store.settings import SettingsError, option

    settings = _load()
    try:
        opt = option(args.key)
    except SettingsError as exc:
        raise _user_error(exc) from None
    print(opt.format(settings.get(opt.key)))
    return 0


def _set(args: argparse.Namespace) -> int:
    from desk.store.settings import SettingsError, option

    settings = _load()
    try:
        opt = option(args.key)
        settings.set(opt.key, args.value)
        settings.save()
        _warn(settings)
    except SettingsError as exc:
        raise _user_error(exc) from None
    except OSError as exc:
        raise _user_error(OSError(f"cannot write {settings.path}: {exc.strerror or exc}")) from None
    print(f"{opt.key} = {_shown(opt, settings.get(opt.key))}  (saved to {settings.path})")
    return 0


def _reset(args: argparse.Namespace) -> int:
    from desk.store.settings import SettingsError, option

    settings = _load()
    try:
        opt = option(args.key)
        settings.reset(opt.key)
        settings.save()
        _warn(settings)
    except SettingsError as exc:
        raise _user_error(exc) from None
    except OSError as exc:
        raise _user_error(OSError(f"cannot write {settings.path}: {exc.strerror or exc}")) from None
    print(f"{opt.key} = {_shown(opt, opt.default)}  (default)")
    return 0
