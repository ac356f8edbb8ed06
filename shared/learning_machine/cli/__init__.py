"""The `lm` console script."""
