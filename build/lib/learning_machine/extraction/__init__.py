"""Extraction: prompt building, the one-call extractor, applying operations."""
