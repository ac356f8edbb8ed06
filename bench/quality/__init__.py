"""Retrieval quality harness: any conversation dataset in the documented JSON format (README.md)."""
