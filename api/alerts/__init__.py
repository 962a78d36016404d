"""The alert console: alerts in reach, the console's actions, a live stream, the duty page."""
