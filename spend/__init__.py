"""Spend: consumption history in, decisions out.

The one import name of the project. The repository's top-level folders map into it
(features/ -> spend.features, models/ -> spend.models, training/ -> spend.training,
serving/ -> spend.serving, experiments/ -> spend.experiments); spend/ itself holds what every layer
shares (`spend.core`), the command line (`spend.cli`) and the simulator (`spend.simulate`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spend")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
