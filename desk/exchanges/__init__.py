"""desk.exchanges."""
