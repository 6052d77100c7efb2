"""JSON Schemas of the portfolio file and the risk report, generated from the structs that validate them.

``python -m desk.formats`` rewrites ``desk/schemas/*.json``; a test asserts the checked-in
files equal what this module generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from desk.formats import portfolio, report

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def _schema(struct: type, schema_id: str, title: str, description: str) -> dict[str, Any]:
    body = msgspec.json.schema(struct)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        "description": description,
        **body,
    }


def portfolio_schema() -> dict[str, Any]:
    return _schema(portfolio.PortfolioDoc, "desk.portfolio/1", "desk portfolio file",
                   "Accounts, wallets and positions for desk's risk engine (design/portfolio-format.md).")


def portfolio_v2_schema() -> dict[str, Any]:
    return _schema(portfolio.PortfolioDocV2, "desk.portfolio/2", "desk portfolio file, version 2",
                   "Version 1 plus, per account, how the venue pools margin: one pool with collateral "
                   "assets, index prices and haircuts (design/unified-margin.md §6.8).")


def report_schema() -> dict[str, Any]:
    return _schema(report.ReportDoc, "desk.risk/1", "desk risk report",
                   "Margin ratio, liquidation and bankruptcy prices per position and pool "
                   "(desk risk --json).")


def rendered() -> dict[str, str]:
    """File name -> exact file text, as checked in."""
    return {
        "portfolio.schema.json": json.dumps(portfolio_schema(), indent=2, ensure_ascii=False) + "\n",
        "portfolio.v2.schema.json": json.dumps(portfolio_v2_schema(), indent=2, ensure_ascii=False) + "\n",
        "risk.schema.json": json.dumps(report_schema(), indent=2, ensure_ascii=False) + "\n",
    }


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    for path in write(Path(argv[0]) if argv else SCHEMA_DIR):
        print(path)
    return 0
