"""Real public data sets shipped with Spend and their loaders."""
