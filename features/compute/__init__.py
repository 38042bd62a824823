"""Pure feature computations over the offline store: daily snapshots per entity."""
