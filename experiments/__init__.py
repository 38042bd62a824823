"""Experiment configurations: one YAML per model, validated by its spec's schema."""
