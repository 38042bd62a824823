"""From raw consumption events to features: schema, ingestion and quarantine, privacy, quality, simulator."""
