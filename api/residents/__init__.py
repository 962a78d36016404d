"""Residents."""
