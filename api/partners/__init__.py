"""The community's resource list: partner units, their offers, bookings, quality."""
