"""desk.notify."""
