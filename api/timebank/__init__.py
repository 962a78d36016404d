"""Timebank."""
