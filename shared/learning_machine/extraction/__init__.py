"""Extraction: the one-call pipeline and applying its operations (the prompt and the reply's
schema are extraction_contract's)."""
