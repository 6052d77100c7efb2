"""desk.formats."""
