"""Property-based fuzzing of the API (schemathesis over the document the API serves)."""
