"""desk.services."""
