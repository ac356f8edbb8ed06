"""Repositories: one module per store, all keyed by tenant first."""
