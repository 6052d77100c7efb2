"""desk.commands."""
