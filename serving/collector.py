"""The garbage collector after start-up: what the service keeps for its life is frozen, and full
collections are rarer than Python's default.

- Frozen: everything loaded at start (Feast, MLflow, the models: hundreds of thousands of tracked
  objects) lives as long as the process; `gc.freeze()` keeps it out of every later pass. Without it,
  full collections over those objects stalled a call now and then.
- Full collections rarer: under load, BentoML's TimeoutMiddleware leaves a timer armed for
  `traffic.timeout` after every request (`loop.call_later`, never cancelled), holding its handle, a
  future and the request's context. Tens of thousands of them reach the oldest generation, and with
  Python's threshold a full pass over them stalled the event loop every few seconds. With FULL_EVERY
  the pass is rare and cycles are still reclaimed. The measurements are in docs/serving.md.
"""

from __future__ import annotations

import gc

FULL_EVERY = 100  # collections of the middle generation between full ones (Python's default: 10)


def settle() -> None:
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)
