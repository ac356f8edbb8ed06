"""Embedders behind one interface: an OpenAI-compatible endpoint, a local sentence model, a fallback."""
