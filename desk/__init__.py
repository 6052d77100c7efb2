"""desk — a desktop risk dashboard for crypto derivatives traders."""

__version__ = "0.1.0"
