"""desk.formats — the portfolio file (``desk.portfolio/1``) and the risk report (``desk.risk/1``).

Validation with msgspec on top of the pure domain model; JSON Schemas generated from the code
(``python -m desk.formats``).
"""

from desk.formats.portfolio import PortfolioError, dump_portfolio, load_portfolio
from desk.formats.report import report_to_dict, write_report
from desk.formats.schemas import portfolio_schema, report_schema

__all__ = [
    "PortfolioError",
    "dump_portfolio",
    "load_portfolio",
    "portfolio_schema",
    "report_schema",
    "report_to_dict",
    "write_report",
]
