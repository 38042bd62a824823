"""Request-time fraud rows: the payment joins the card's online windows, payments of one card in a batch
see each other in time order (each in the windows it falls in), and without the online store every window
starts empty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spend.features.compute.payments import FEATURES, SPENDING, TERMINAL, payment_features
from spend.features.store.definitions import request_arrays, request_values
from spend.serving.fraud import model_inputs, payment_rows


def _frame(*args) -> tuple[pd.DataFrame, dict]:
    values, latest = payment_rows(*args)
    return pd.DataFrame(values, columns=list(FEATURES)), latest


def _columns(found: bool) -> dict:
    columns = {name: np.array([3.0]) for name in SPENDING} | {name: np.array([0.5]) for name in TERMINAL}
    columns |= {f"avg_amount_{w}d": np.array([10.0]) for w in (1, 7, 30)}
    return columns | {"customer_spending__found": np.array([found]), "terminal_risk__found": np.array([found])}


def test_the_payment_joins_the_cards_online_windows():
    rows, latest = _frame(_columns(True), ["c"], [30.0], [1_700_000_000], [2])
    assert rows.loc[0, "nb_tx_1d"] == 4 and rows.loc[0, "avg_amount_1d"] == pytest.approx((3 * 10 + 30) / 4)
    assert rows.loc[0, "terminal_risk_7d"] == 0.5 and rows.loc[0, "amount_over_avg_30d"] == pytest.approx(30 / 15)
    assert latest == {"c": {k: rows.loc[0, k] for k in SPENDING}}


def test_a_cards_payments_in_one_batch_see_the_earlier_ones():
    columns = {k: np.concatenate([v, v]) for k, v in _columns(False).items()}
    rows, latest = _frame(columns, ["c", "c"], [10.0, 30.0], [1, 2], [1, 1])
    assert rows["nb_tx_30d"].tolist() == [1, 2] and rows.loc[1, "avg_amount_30d"] == pytest.approx(20.0)
    assert latest["c"]["nb_tx_7d"] == 2


def test_a_batchs_earlier_payments_count_only_in_the_windows_they_fall_in():
    """A new card's payments spread over two weeks in one batch get the offline computation's windows:
    a payment three days before another is in its 7- and 30-day windows, not its 1-day one."""
    times = pd.to_datetime(
        ["2026-01-01 10:00", "2026-01-02 09:00", "2026-01-02 11:00", "2026-01-05 11:00", "2026-01-12 10:59"], utc=True
    )
    amounts = [10.0, 30.0, 50.0, 70.0, 90.0]
    scored = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(5)],
            "customer_id": "c",
            "terminal_id": "t",
            "ts": times,
            "amount": amounts,
        }
    )
    offline = payment_features(scored, scored, pd.DataFrame(columns=["order_id", "ts", "is_fraud"]))
    columns = {k: np.repeat(v, 5) for k, v in _columns(False).items()}
    seconds = [int(t.timestamp()) for t in times]
    rows, latest = _frame(columns, ["c"] * 5, amounts, seconds, [1] * 5)
    assert rows["nb_tx_1d"].tolist() == [1, 2, 2, 1, 1]
    for name in SPENDING:
        np.testing.assert_allclose(rows[name], offline[name], err_msg=name)
    assert latest["c"] == {name: rows.loc[4, name] for name in SPENDING}


def test_many_payments_of_two_cards_in_one_batch_match_the_offline_windows():
    rng = np.random.default_rng(8)
    n = 400
    times = pd.to_datetime("2026-01-01", utc=True) + pd.to_timedelta(np.sort(rng.uniform(0, 60, n)), unit="D")
    cards = rng.choice(["a", "b"], n)
    amounts = rng.gamma(2.0, 20.0, n).round(2)
    scored = pd.DataFrame(
        {"order_id": [f"o{i}" for i in range(n)], "customer_id": cards, "terminal_id": "t", "ts": times}
    ).assign(amount=amounts)
    offline = payment_features(scored, scored, pd.DataFrame(columns=["order_id", "ts", "is_fraud"]))
    columns = {k: np.repeat(v, n) for k, v in _columns(False).items()}
    rows, _ = _frame(columns, list(cards), list(amounts), [int(t.timestamp()) for t in times], [1] * n)
    for name in SPENDING:
        np.testing.assert_allclose(rows[name], offline[name], rtol=1e-9, err_msg=name)


def test_without_the_online_store_windows_start_empty():
    degraded, _ = _frame(None, ["c"], [30.0], [1_700_000_000], [1])
    unknown, _ = _frame(_columns(False), ["c"], [30.0], [1_700_000_000], [1])
    assert degraded.equals(unknown) and degraded.loc[0, "nb_tx_1d"] == 1 and degraded.loc[0, "terminal_nb_tx_7d"] == 0


def test_one_payments_request_values_equal_the_arrays_path():
    """The one-payment path (plain Python) gives exactly what the batch path's numpy gives, edge cases too:
    no average, a NaN one, midnight and weekend edges, times before 1970."""
    rng = np.random.default_rng(4)
    amounts = np.concatenate([rng.gamma(2.0, 30.0, 300), [0.0, 5.0, 5.0, 1e308]])
    averages = np.concatenate([rng.gamma(2.0, 30.0, 300), [0.0, 0.0, np.nan, 1e-308]])
    times = np.concatenate([rng.integers(-2_000_000_000, 2_000_000_000, 300), [0, 6 * 3600, 22 * 3600 - 1, -1]])
    baskets = rng.integers(1, 20, len(times))
    with np.errstate(over="ignore"):  # the last payment's ratio overflows to inf on purpose
        arrays = request_arrays(amounts, averages, times.astype(np.int64), baskets.astype(np.int64))
    assert np.isinf(arrays["amount_over_avg_30d"][-1])
    for i in range(len(times)):
        one = request_values(float(amounts[i]), float(averages[i]), int(times[i]), int(baskets[i]))
        assert one == {name: column[i].item() for name, column in arrays.items()}, i


@pytest.mark.parametrize("stored", ["found", "not_found", "degraded", "no_average"])
def test_a_single_payments_row_equals_the_same_payment_in_a_batch(stored):
    """A single payment takes a path of its own (plain lists); its row and windows must be the batch path's."""
    one = None if stored == "degraded" else _columns(stored != "not_found")
    if stored == "no_average":
        one |= {f"avg_amount_{w}d": np.array([0.0]) for w in (1, 7, 30)} | {
            f"nb_tx_{w}d": np.array([0.0]) for w in (1, 7, 30)
        }
    columns = None if one is None else {k: np.concatenate([v, v]) for k, v in one.items()}
    single, kept = _frame(one, ["c"], [30.0], [1_700_050_000], [3])
    batch, kept_batch = _frame(columns, ["c", "d"], [30.0, 12.0], [1_700_050_000, 1_700_050_001], [3, 1])
    pd.testing.assert_series_equal(single.loc[0], batch.loc[0])
    assert kept == {"c": kept_batch["c"]}


def test_model_inputs_follow_the_models_feature_order_and_name_what_is_missing():
    values, _ = payment_rows(_columns(True), ["c"], [30.0], [1_700_000_000], [2])
    assert model_inputs(values, FEATURES) is values
    reordered = model_inputs(values, ["amount_over_avg_30d", "nb_tx_1d"])
    assert reordered.tolist() == [[pytest.approx(2.0), 4.0]]
    with pytest.raises(ValueError, match="customer_age"):
        model_inputs(values, ["nb_tx_1d", "customer_age"])


def test_kept_answers_come_back_equal_and_a_reused_id_is_a_conflict():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    import pytest

    from spend.serving.idempotency import OrderConflict, ScoredPayments, payment_details

    payment = SimpleNamespace(
        terminal_id="T1", ts=datetime(2026, 1, 1, tzinfo=UTC), amount=12.5, currency="GBP", basket_size=1
    )
    kept = ScoredPayments(capacity=2)
    details = payment_details("c_1", payment)
    answer = {"order_id": "o1", "fraud_score": 0.25, "features_at": {"customer_spending": None}, "reasons": []}
    assert kept.get("o1", details) is None
    kept.put("o1", details, answer)
    assert kept.get("o1", details) == answer
    with pytest.raises(OrderConflict):
        kept.get("o1", payment_details("c_2", payment))
    kept.put("o2", details, answer)
    kept.put("o3", details, answer)
    assert len(kept) == 2 and kept.get("o1", details) is None  # the oldest went first
