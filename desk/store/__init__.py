"""desk.store."""
