"""HTTP API (FastAPI): one folder per resource, each with models / service / routes.

    accounts/   login (OAuth2 password flow), accounts, grids, admin bootstrap
    audit/      who read whose location or vitals, when and why
    residents/  profile, risk flags, contacts, family links with consent, threshold overrides
    location/   latest position and history, latest vitals (audited, rate-limited)
    devices/    provisioning into the broker, bind/unbind, revoke, status, commands
    geofences/  GeoJSON circles and polygons per resident
    bookings/   catalog, providers, booking lifecycle, band service requests
    timebank/   double-entry ledger in minutes

Object-level access lives in api.access (SCOPE_SQL); errors in api.errors, mapped to HTTP in
api.app. The alert console (alert list, acknowledge, SSE, duty page) will be `api/alerts/`
with a `routes.py` exposing `router`; api.app includes it as soon as it exists.
"""
