"""Repositories: one module per store, all keyed by tenant first.

The idempotency table is Powertools': idempotency.py holds its key layout (the extract function's
configuration, and the record ids forget-user deletes through idempotency_records.py)."""
