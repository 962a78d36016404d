"""Geofences."""
