"""Curation: scheduled and on-demand upkeep of what was learned (merges, prunes, retention)."""
