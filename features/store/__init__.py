"""The Feast feature store over Spend's snapshots: declarations, environments, build, materialise, read."""
