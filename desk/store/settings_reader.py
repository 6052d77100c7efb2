"""Read a settings file that may be damaged, keeping everything that is still readable.

``read_document(data)`` never raises. A file TOML accepts is returned as it is. A file it does
not accept (a one-character typo, bytes that are not UTF-8, a value nested too deeply) is read
again statement by statement under its table headers: every statement that parses on its own is
kept, and every line that does not is reported with its line number and key and returned in
``dropped`` so a later rewrite can keep its text. A file over :data:`MAX_BYTES` is not parsed.

The caller (:mod:`desk.store.settings`) decides what the document means; this module only knows
TOML.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 256 * 1024  # a settings file is a few KB; anything far bigger is not one
MAX_DEPTH = 16  # tables and arrays nested deeper than this are refused (settings use 3)
MAX_STATEMENT_LINES = 100  # a multi-line value longer than this is not a settings value
RECOVERY_BUDGET = 2_000_000  # characters handed to the TOML parser while recovering a file
MAX_PARSES = 5_000  # parser calls while recovering (a settings file has a few dozen statements)
MAX_LISTED = 50  # bad lines listed one by one; beyond this they are counted
SHOWN_CHARS = 60  # how much of a bad value or line is quoted back

BOM = b"\xef\xbb\xbf"  # Windows Notepad's UTF-8 mark: not damage


@dataclass(frozen=True)
class SettingsIssue:
    """One damaged or invalid entry: which key (or line), the value as written, and why."""

    key: str  # "alerts.distance_warning", "accounts.main", or "line 12" when no key is readable
    why: str
    value: str = ""  # as written, shortened; "***" for secrets
    line: int | None = None

    def __str__(self) -> str:
        shown = f" = {self.value}" if self.value else ""
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.key}{shown}{where}: {self.why}"


@dataclass
class ReadResult:
    doc: dict[str, Any] = field(default_factory=dict)
    issues: list[SettingsIssue] = field(default_factory=list)
    # (line number, text) of what could not be read; text is printable (see ``shown``)
    dropped: list[tuple[int | None, str]] = field(default_factory=list)
    too_large: bool = False

    @property
    def damaged(self) -> bool:
        """Something in the file is not in ``doc`` (a rewrite would lose it without a backup)."""
        return bool(self.dropped) or self.too_large


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` on one printable line (control characters escaped), shortened to ``limit``."""
    out = "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" if ord(c) < 256
                  else f"\\u{ord(c):04x}" for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


class _Budget:
    """How much parsing recovery may still do: characters and parser calls (a hostile file of
    tens of thousands of broken lines must not keep desk busy for seconds)."""

    def __init__(self, chars: int, parses: int = MAX_PARSES) -> None:
        self.left = chars
        self.parses = parses

    @property
    def spent(self) -> bool:
        return self.left <= 0 or self.parses <= 0


def _parse(text: str, budget: _Budget | None = None) -> tuple[dict[str, Any] | None, str]:
    """(document, "") or (None, why). Never raises."""
    if budget is not None:
        budget.left -= len(text)
        budget.parses -= 1
    try:
        return tomllib.loads(text), ""
    except tomllib.TOMLDecodeError as exc:
        return None, str(exc)
    except RecursionError:
        return None, f"nested too deeply (desk reads at most {MAX_DEPTH} levels)"
    except ValueError as exc:  # e.g. an integer with thousands of digits
        return None, shown(str(exc), 120)
    except MemoryError:
        return None, "too large to read"


def _depth_exceeded(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests tables/arrays deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit and children:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _key_of(line: str) -> str:
    """The key a statement line assigns, if one can be seen (for messages)."""
    match = re.match(r"\s*([A-Za-z0-9_\-.\"' ]+?)\s*=", line)
    if not match:
        return ""
    return ".".join(part.strip().strip("\"'") for part in match.group(1).split("."))


def _value_of(line: str) -> str:
    _, sep, value = line.partition("=")
    return shown(value.strip()) if sep else ""


def read_document(data: bytes) -> ReadResult:
    """The document in ``data`` and what is wrong with it (see the module docstring)."""
    result = ReadResult()
    if len(data) > MAX_BYTES:
        result.too_large = True
        result.issues.append(SettingsIssue(
            "settings file", f"it is {len(data):,} bytes; desk reads at most {MAX_BYTES // 1024} KiB "
            "(a settings file is a few KB) — check that this is the right file, or delete it"))
        return result
    if data.startswith(BOM):
        data = data[len(BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        doc, _ = _parse(text)
        if doc is not None:
            result.doc = doc
            _drop_deep_entries(result)
            return result
    _recover(data, result)
    _drop_deep_entries(result)
    return result


def _drop_deep_entries(result: ReadResult) -> None:
    for key in list(result.doc):
        value = result.doc[key]
        if not _depth_exceeded(value, MAX_DEPTH - 1):
            continue
        del result.doc[key]
        why = f"nested more than {MAX_DEPTH} levels deep; not read"
        result.issues.append(SettingsIssue(key, why))
        result.dropped.append((None, f"{key} = … ({why})"))


class _Conflict(Exception):
    pass


def _merge(target: dict[str, Any], incoming: dict[str, Any]) -> None:
    """Add ``incoming`` into ``target``; a key given twice is a conflict (the first one stays)."""
    for key, value in incoming.items():
        if key not in target:
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, dict):
            _check_mergeable(target[key], value)
            _merge(target[key], value)
        else:
            raise _Conflict(key)


def _check_mergeable(target: dict[str, Any], incoming: dict[str, Any]) -> None:
    for key, value in incoming.items():
        if key in target:
            if isinstance(target[key], dict) and isinstance(value, dict):
                _check_mergeable(target[key], value)
            else:
                raise _Conflict(key)


def _header_path(doc: dict[str, Any]) -> tuple[tuple[str, ...], bool] | None:
    """The key path a lone header line declared, and whether it is an array of tables."""
    path: list[str] = []
    node: Any = doc
    while True:
        if not isinstance(node, dict) or len(node) != 1:
            return (tuple(path), False) if isinstance(node, dict) and not node and path else None
        (key, child), = node.items()
        path.append(key)
        if isinstance(child, list):
            if len(child) != 1 or not isinstance(child[0], dict) or child[0]:
                return None
            return tuple(path), True
        node = child


def _table_at(doc: dict[str, Any], path: tuple[str, ...], array: bool, new_element: bool) -> dict[str, Any]:
    """The table the header ``path`` names inside ``doc`` (created; raises _Conflict if it cannot be)."""
    node: Any = doc
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if last and array:
            items = node.setdefault(key, [])
            if not isinstance(items, list):
                raise _Conflict(key)
            if new_element or not items:
                items.append({})
            if not isinstance(items[-1], dict):
                raise _Conflict(key)
            return items[-1]
        child = node.setdefault(key, {})
        if isinstance(child, list) and child and isinstance(child[-1], dict):
            child = child[-1]
        if not isinstance(child, dict):
            raise _Conflict(key)
        node = child
    assert isinstance(node, dict)
    return node


def _statement_table(parsed: dict[str, Any], path: tuple[str, ...], array: bool) -> dict[str, Any]:
    node: Any = parsed
    for key in path:
        node = node[key]
        if isinstance(node, list):
            node = node[-1]
    assert isinstance(node, dict)
    return node


def _recover(data: bytes, result: ReadResult) -> None:
    raw_lines = [raw.removesuffix(b"\r") for raw in data.split(b"\n")]  # CRLF files too
    lines: list[str | None] = []
    for raw in raw_lines:
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(None)
    doc: dict[str, Any] = {}
    budget = _Budget(RECOVERY_BUDGET)
    header = ""  # the current header line ("" = the root table)
    path: tuple[str, ...] = ()
    array = False
    header_ok = True
    header_line = 0
    section_start = 0  # where the current table's statements start (tried in one go first)
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i]
        if line is None:
            result.issues.append(SettingsIssue(f"line {number}", "not UTF-8 text; not read", line=number))
            result.dropped.append((number, shown(raw_lines[i].decode("utf-8", "backslashreplace"), 400)))
            i += 1
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            if i == section_start:
                section_start += 1
            i += 1
            continue
        if budget.spent:
            rest = [n + 1 for n in range(i, len(lines)) if lines[n] is None or str(lines[n]).strip()]
            result.issues.append(SettingsIssue(
                f"lines {number}-{len(lines)}", "too damaged to read further; not read", line=number))
            result.dropped.extend((n, shown(lines[n - 1] or "", 400)) for n in rest)
            break
        if stripped.startswith("["):
            parsed, why = _parse(line, budget)
            found = _header_path(parsed) if parsed is not None else None
            header_line = number
            if found is None:
                header_ok = False
                name = shown(stripped.lstrip("[").split("]")[0].split("#")[0].strip(), 40)
                result.issues.append(SettingsIssue(
                    name or f"line {number}", f"{shown(stripped)} is not a valid table header "
                    f"({_plain(why) if why else 'not a single table name'}); the settings under it are "
                    "not read", line=number))
                result.dropped.append((number, shown(line, 400)))
            else:
                path, array = found
                try:
                    _table_at(doc, path, array, new_element=True)
                    header, header_ok = line, True
                    section_start = i + 1
                except _Conflict:
                    header_ok = False
                    result.issues.append(SettingsIssue(
                        ".".join(path), "the table clashes with a value of the same name; the settings "
                        "under it are not read", line=number))
                    result.dropped.append((number, shown(line, 400)))
            i += 1
            continue
        if header_ok and i == section_start:
            end = _section_end(lines, i)
            if _take_section(doc, lines, i, end, header, path, array, budget):
                i = end
                continue
        key = _key_of(line)
        if not header_ok:
            full = ".".join(p for p in (_header_name(lines, header_line), key) if p)
            result.issues.append(SettingsIssue(
                full or f"line {number}", f"under the damaged table header on line {header_line}; not read",
                value=_value_of(line), line=number))
            result.dropped.append((number, shown(line, 400)))
            i += 1
            continue
        end, parsed, why = _statement(lines, i, header, budget)
        if parsed is None:
            full = ".".join((*path, key)) if key else f"line {number}"
            result.issues.append(SettingsIssue(full, f"{_plain(why)}; not read", value=_value_of(line),
                                               line=number))
            result.dropped.append((number, shown(line, 400)))
            i += 1
            continue
        try:
            target = _table_at(doc, path, array, new_element=False)
            incoming = _statement_table(parsed, path, array)
            _check_mergeable(target, incoming)
            _merge(target, incoming)
        except _Conflict as exc:
            full = ".".join((*path, str(exc.args[0])))
            result.issues.append(SettingsIssue(full, "given twice; the first one is used",
                                               value=_value_of(line), line=number))
            result.dropped.extend((n + 1, shown(lines[n] or "", 400)) for n in range(i, end))
        i = end
    result.doc = doc
    if len(result.issues) > MAX_LISTED:
        more = len(result.issues) - MAX_LISTED
        first_unlisted = result.issues[MAX_LISTED].line
        result.issues[MAX_LISTED:] = [SettingsIssue(
            "more lines", f"{more} more problems, not listed one by one: "
            f"{len(result.dropped)} lines in all could not be read", line=first_unlisted)]


def _section_end(lines: list[str | None], start: int) -> int:
    """The index of the next line that looks like a table header (or the end)."""
    for index in range(start, len(lines)):
        line = lines[index]
        if line is None:
            return index
        if line.lstrip().startswith("["):
            return index
    return len(lines)


def _take_section(doc: dict[str, Any], lines: list[str | None], start: int, end: int, header: str,
                  path: tuple[str, ...], array: bool, budget: _Budget) -> bool:
    """Read a whole table body in one parse when it is intact (the usual case); False if not."""
    if end <= start:
        return False
    body = "\n".join(line or "" for line in lines[start:end])
    parsed, _ = _parse((header + "\n" if header else "") + body, budget)
    if parsed is None:
        return False
    try:
        incoming = _statement_table(parsed, path, array)
        target = _table_at(doc, path, array, new_element=False)
        _check_mergeable(target, incoming)
    except (_Conflict, KeyError, IndexError):
        return False
    _merge(target, incoming)
    return True


def _header_name(lines: list[str | None], header_line: int) -> str:
    text = (lines[header_line - 1] or "").strip() if header_line else ""
    return text.strip("[] ").split("]")[0].strip() if text else ""


def _plain(why: str) -> str:
    """tomllib's message without its position (desk gives the line itself)."""
    return re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", why) or "not valid TOML"


def _statement(lines: list[str | None], start: int, header: str,
               budget: _Budget) -> tuple[int, dict[str, Any] | None, str]:
    """Parse the statement starting at ``start`` under ``header``: (next line index, doc, why).

    A statement runs over more lines only while TOML says the text so far ended too early
    (an open array, inline table or multi-line string)."""
    prefix = header + "\n" if header else ""
    end = start + 1
    why = ""
    while True:
        chunk = "\n".join(line or "" for line in lines[start:end])
        parsed, why = _parse(prefix + chunk, budget)
        if parsed is not None:
            return end, parsed, ""
        if ("at end of document" not in why or end >= len(lines) or end - start >= MAX_STATEMENT_LINES
                or budget.spent or lines[end] is None):
            return start + 1, None, why
        end += 1
