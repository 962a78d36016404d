"""Shared plumbing for every service: settings, database, Redis, broker files, CLI."""
