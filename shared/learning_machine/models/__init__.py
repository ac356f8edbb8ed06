"""Pydantic v2 models for every payload and stored item; `api/` holds what the API answers."""
