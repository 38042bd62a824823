"""The Feast feature store over Spend's snapshots: declarations, environments, build, materialise, read."""

import warnings


def quiet_feast() -> None:
    """Feast warns on every call that on-demand views are experimental; docs/feature-store.md says it once.
    Here (not in config.py) so the CLI can call it without importing Feast at start-up."""
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    # SPEND_ENV=cluster: Feast calls its Spark offline store and sources alpha on every use (docs/scale.md).
    warnings.filterwarnings("ignore", message="The spark (data source API|offline store) is an experimental feature")
