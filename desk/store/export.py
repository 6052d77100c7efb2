"""Writing rows as CSV or JSON: ``desk export`` and the dashboard's "export the visible table".

``write_rows`` takes any sequence of mappings; the columns are the union of the keys in the order
they first appear. Times: a float ``at`` (epoch seconds) gets an ISO 8601 UTC ``time`` column
beside it, so a spreadsheet shows a date and a script keeps the exact number. A file is written
atomically (a half-written export never replaces a good one).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any

from desk.domain.finite import finite_or_none

FORMATS = ("csv", "json")


def iso_utc(epoch: float) -> str:
    """Epoch seconds as ``2026-11-21T10:15:00.250Z`` (milliseconds only when present)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def format_for(path: str | Path | None, fmt: str | None) -> str:
    """The explicit format, else the file's suffix, else csv; raises ValueError for anything else."""
    if fmt is None and path is not None:
        suffix = Path(path).suffix.lower().lstrip(".")
        fmt = suffix if suffix in FORMATS else "csv"
    fmt = (fmt or "csv").lower()
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r} is not supported — use csv or json")
    return fmt


def _with_time(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "at" and isinstance(value, int | float) and "time" not in row:
            out["time"] = iso_utc(float(value))
        out[key] = value
    return out


def _plain(value: Any) -> Any:
    """A JSON-safe value: enums by value, dates in ISO, NaN/inf as null."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same number
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _write(rows: Sequence[Mapping[str, Any]], stream: IO[str], fmt: str) -> None:
    prepared = [_with_time(r) for r in rows]
    if fmt == "json":
        stream.write("[")
        for i, row in enumerate(prepared):
            stream.write(",\n  " if i else "\n  ")
            stream.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False,
                                    allow_nan=False))
        stream.write("\n]\n" if prepared else "]\n")
        return
    columns = _columns(prepared)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for row in prepared:
        writer.writerow([_cell(row.get(c)) for c in columns])


@contextlib.contextmanager
def _atomic_text(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_rows(rows: Sequence[Mapping[str, Any]], path_or_stream: str | Path | IO[str], fmt: str) -> None:
    """Write ``rows`` as ``fmt`` ("csv" or "json") to a file path (atomically) or an open text stream."""
    fmt = format_for(None, fmt)
    if isinstance(path_or_stream, str | Path):
        with _atomic_text(Path(path_or_stream)) as f:
            _write(rows, f, fmt)
    else:
        _write(rows, path_or_stream, fmt)


def rows_to_text(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    buffer = io.StringIO()
    write_rows(rows, buffer, fmt)
    return buffer.getvalue()
