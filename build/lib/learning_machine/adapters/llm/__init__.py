"""Extraction models behind one interface: the openai SDK, a scripted model, an offline extractor."""
