"""Per-payment fraud features: exact windows, the current payment counted, no label from the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.features.compute.payments import FEATURES, payment_features

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _payments(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "terminal_id", "ts", "amount"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def test_spending_windows_include_the_payment_itself_and_age_out():
    pay = _payments(
        [
            ("o1", "c", "t", "2026-01-01 10:00", 10.0),
            ("o2", "c", "t", "2026-01-02 09:00", 30.0),
            ("o3", "c", "t", "2026-01-02 11:00", 50.0),
        ]
    )
    f = payment_features(pay, pay, pd.DataFrame(columns=["order_id", "ts", "is_fraud"]))
    assert f["nb_tx_1d"].tolist() == [1, 2, 2]  # o1 is 25 h old at o3
    assert f["avg_amount_1d"].tolist() == [10.0, 20.0, 40.0]
    assert f["nb_tx_7d"].tolist() == [1, 2, 3]
    assert f.loc[2, "amount_over_avg_30d"] == pytest.approx(50 / 30)
    assert list(f.columns) == list(FEATURES)


def test_terminal_risk_uses_only_payments_older_than_the_delay_with_labels_known_by_then():
    old = [(f"o{i}", f"c{i}", "t", str(T0 + pd.Timedelta(days=i, hours=12)), 5.0) for i in range(3)]
    scored = _payments([*old, ("now", "x", "t", str(T0 + pd.Timedelta(days=10, hours=11)), 5.0)])
    labels = pd.DataFrame(
        {
            "order_id": ["o0", "o2"],
            "ts": pd.to_datetime([T0 + pd.Timedelta(days=7), T0 + pd.Timedelta(days=12)], utc=True),
            "is_fraud": [1, 1],
        }
    )
    f = payment_features(scored, scored, labels).iloc[-1]
    # At day 10 11:00 with a 7-day delay the 30-day window holds payments before day 3 11:00: o0, o1, o2.
    assert f["terminal_nb_tx_30d"] == 3
    # o0's label arrived on day 7 (known); o2's arrives on day 12 (not yet): 1 fraud in 3.
    assert f["terminal_risk_30d"] == pytest.approx(1 / 3)
    # The 1-day window [day 2 11:00, day 3 11:00) holds only o2, whose label is not known yet.
    assert (f["terminal_nb_tx_1d"], f["terminal_risk_1d"]) == (1, 0.0)


def test_windows_match_brute_force_on_random_payments():
    rng = np.random.default_rng(3)
    n = 400
    pay = _payments(
        [
            (f"o{i}", f"c{rng.integers(5)}", f"t{rng.integers(3)}", str(T0 + pd.Timedelta(seconds=int(s))), float(a))
            for i, (s, a) in enumerate(zip(rng.integers(0, 40 * 86_400, n), rng.uniform(1, 100, n), strict=True))
        ]
    )
    f = payment_features(pay, pay, pd.DataFrame(columns=["order_id", "ts", "is_fraud"]))
    for i in rng.choice(n, 40, replace=False):
        row = pay.iloc[i]
        mine = pay[(pay["customer_id"] == row["customer_id"]) & (pay["ts"] <= row["ts"])]
        week = mine[mine["ts"] > row["ts"] - pd.Timedelta(days=7)]
        assert f.loc[i, "nb_tx_7d"] == len(week)
        assert f.loc[i, "avg_amount_7d"] == pytest.approx(week["amount"].mean())
        shifted = row["ts"] - pd.Timedelta(days=7)
        on_terminal = pay[(pay["terminal_id"] == row["terminal_id"]) & (pay["ts"] < shifted)]
        assert f.loc[i, "terminal_nb_tx_30d"] == (on_terminal["ts"] >= shifted - pd.Timedelta(days=30)).sum()
