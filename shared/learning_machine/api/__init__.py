"""The HTTP API: routers by resource on Powertools' REST resolver, with validation and OpenAPI, and
the authorizer's logic in front of it (auth.py: bearer API key -> tenant, read back by tenancy.py)."""
