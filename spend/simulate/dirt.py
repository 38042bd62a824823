"""Make a clean simulated export dirty the way real ones are, and record each defect and its expected outcome.

Each defect is the reason ingestion must report (`field:rule`), or `duplicate` for an exact repeat.
The ground truth lets tests check that every injected defect is caught with exactly that reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# defect -> how to corrupt a purchase line (a copy of the row is passed and returned)
DEFECTS = {
    "ts:unparsable_timestamp": lambda r: r.assign(ts="2025-13-45 25:61"),
    "ts:not_in_future": lambda r: r.assign(ts="2099-01-01T00:00:00Z"),
    "quantity:non_zero_quantity": lambda r: r.assign(quantity=0),
    "quantity:sign_matches_kind": lambda r: r.assign(quantity=-r["quantity"]),
    "unit_price:positive_price_on_purchase": lambda r: r.assign(unit_price=0.0),
    "currency:known_currency": lambda r: r.assign(currency="XXX"),
    "customer_id:missing": lambda r: r.assign(customer_id=""),
    "product_id:malformed_id": lambda r: r.assign(product_id="bad\tid"),
    "quantity:absurd_amount": lambda r: r.assign(quantity=10_000_000),
    "quantity:not_a_float": lambda r: r.assign(quantity="two"),
}


def add_dirt(transactions: pd.DataFrame, share: float, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Corrupt `share` of purchase lines (spread evenly over DEFECTS), then add exact duplicates and
    event-id conflicts at the same rate. Returns the dirty table and one truth row per defect."""
    purchases = np.flatnonzero((transactions["kind"] == "purchase").to_numpy())
    n = int(round(share * len(transactions)))
    if n == 0:
        return transactions, pd.DataFrame(columns=["event_id", "expected"])
    chosen = rng.choice(purchases, size=min(n, purchases.size), replace=False)
    names = np.array(list(DEFECTS))[np.arange(chosen.size) % len(DEFECTS)]
    dirty = transactions.astype({"quantity": object, "unit_price": object}).copy()
    for name in DEFECTS:
        rows = chosen[names == name]
        dirty.iloc[rows] = DEFECTS[name](dirty.iloc[rows].copy()).to_numpy()
    spare = np.setdiff1d(purchases, chosen)
    repeats = rng.choice(spare, size=min(max(n // len(DEFECTS), 1), spare.size), replace=False)
    conflicts = dirty.iloc[rng.choice(np.setdiff1d(spare, repeats), size=repeats.size, replace=False)].copy()
    conflicts["quantity"] = conflicts["quantity"].astype(int) + 1
    dirty = pd.concat([dirty, dirty.iloc[repeats], conflicts], ignore_index=True)
    truth = pd.DataFrame(
        {
            "event_id": np.concatenate(
                [
                    dirty["event_id"].to_numpy()[chosen],
                    dirty["event_id"].to_numpy()[repeats],
                    conflicts["event_id"].to_numpy(),
                ]
            ),
            "expected": np.concatenate(
                [names, ["duplicate"] * repeats.size, ["event_id:duplicate_event_id"] * len(conflicts)]
            ),
            "copy": np.concatenate(
                [np.zeros(chosen.size + repeats.size, dtype=int), np.ones(len(conflicts), dtype=int)]
            ),
        }
    )
    return dirty, truth
