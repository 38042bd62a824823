"""Reasons read as sentences with the customer's own values; the model's BG/NBD input reads as the
customer's buying rhythm; codes that say the same thing say it once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spend.models.reason_text import explain, sentence


def test_reasons_are_sentences_with_the_customers_values():
    X = pd.DataFrame(
        {
            "days_since_last_order": [94.0, 5.0, np.nan],
            "days_since_first_order": [400.0, 30.0, np.nan],
            "purchase_days_total": [15.0, 1.0, np.nan],
            "return_rate_90d": [0.25, np.nan, 0.0],
            "membership_tier": ["gold", None, None],
        }
    )
    codes = [["bgnbd_p_churn", "days_since_last_order", "return_rate_90d"], ["days_since_last_order"], ["tier_x"]]
    assert explain(codes, X) == [
        # (400 - 94) days between the first and the last of 15 purchase days: every 22 days
        "no order for 94 days; usually every 22 days / 25% of spend returned in the last 90 days",
        "no order for 5 days; one order so far",
        "tier x",  # an unknown code is still said, in words
    ]


def test_each_known_code_gives_a_sentence_naming_its_value():
    row = {"spend_90d": 1234.5, "points_balance": 800.0, "web_share_365d": 0.4, "tenure_days": 1.0}
    assert sentence("spend_90d", row) == "spent 1,234.50 in the last 90 days"
    assert sentence("points_balance", row) == "800 points unused"
    assert sentence("web_share_365d", row) == "40% of orders on the web over the year"
    assert sentence("tenure_days", row) == "a member for 1 day"
    assert sentence("days_since_last_order", {}) == "no order yet"
