"""Canonical tables: field specs, pandera schemas, the generated data dictionary."""
