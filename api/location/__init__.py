"""Location."""
