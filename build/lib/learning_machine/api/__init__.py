"""The HTTP API: routers by resource on Powertools' REST resolver, with validation and OpenAPI."""
