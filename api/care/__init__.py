"""Care from the data: the daily check list and the calls and visits that answer it."""
