"""Residents 'requests: open, dispatch on the escalation ladders, follow, rate."""
