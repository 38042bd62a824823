"""Ingestion: read exports, parse, validate, deduplicate, write to the offline store or the quarantine."""
