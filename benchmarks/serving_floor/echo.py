"""The serving benchmark's floor: a BentoML service whose one endpoint only echoes its input, parsed into
the same request model as the fraud endpoint (same validation work), with the service's server settings
and no auth, logging or model.

    bentoml serve benchmarks.serving_floor.echo:Echo --port 3001
"""

from __future__ import annotations

import bentoml

from spend.serving.schemas import Transaction
from spend.serving.service import SERVER


@bentoml.service(name="echo", **SERVER)  # the same server settings as the service
class Echo:
    @bentoml.api(route="/v1/echo")
    def echo(self, transaction: Transaction) -> Transaction:
        return transaction
