"""The risk report's bytes as `desk risk --json` writes them, for tests that read the document."""

from __future__ import annotations

import io
from typing import Any

from desk.formats.report import write_report


def report_bytes(report: Any, **options: Any) -> bytes:
    """What :func:`desk.formats.report.write_report` writes for ``report`` (indented by default)."""
    out = io.BytesIO()
    write_report(out, report, **options)
    return out.getvalue()
