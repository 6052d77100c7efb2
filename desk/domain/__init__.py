"""desk.domain — the pure risk engine: model, venue rules, engine, suggestions, scenarios.

numpy and the standard library only: no Qt, no ccxt, no I/O (enforced by import-linter).
"""
