"""The contract of the one extraction call: what a model is told and what its reply is held to.

prompt.py renders an ExtractionRequest into the two chat messages (and the other texts of the
call); schema.py builds the JSON schema the reply must match. Both depend on models/ only, so the
extraction domain (which budgets entities by their prompt lines) and the model adapters (which
send them) both use this package without depending on each other.
"""
