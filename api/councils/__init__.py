"""Residents' councils: topics, meetings, household votes, decisions as tasks."""
