"""Data-quality scorecard over the stored tables."""
