"""Figures a training run logs beside its numbers: how the candidate and its baselines rank (ROC and
precision-recall curves), whether its probabilities mean what they say (the calibration curve) and what
it leans on (feature importance). matplotlib with the Agg backend: no screen, no side effect at import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def classifier_figures(label: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, object]:
    """{file name: figure}: ROC, precision-recall and calibration of every scorer on the holdout."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _pyplot()
    y = np.asarray(label, dtype=int)
    figures = {}
    roc, pr, cal = (plt.subplots(figsize=(5, 4.5)) for _ in range(3))
    for name, score in scores.items():
        score = np.asarray(score, dtype=float)
        fpr, tpr, _ = roc_curve(y, score)
        roc[1].plot(fpr, tpr, label=name)
        precision, recall, _ = precision_recall_curve(y, score)
        pr[1].plot(recall, precision, label=name)
        if np.all((score >= 0) & (score <= 1)):
            observed, predicted = calibration_curve(y, score, n_bins=10, strategy="quantile")
            cal[1].plot(predicted, observed, marker="o", label=name)
    roc[1].plot([0, 1], [0, 1], color="grey", linestyle=":")
    cal[1].plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for (fig, ax), title, xlabel, ylabel, key in (
        (roc, "ROC on the holdout", "false positive rate", "true positive rate", "roc.png"),
        (pr, "Precision-recall on the holdout", "recall", "precision", "precision_recall.png"),
        (cal, "Calibration on the holdout (deciles)", "predicted probability", "observed rate", "calibration.png"),
    ):
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        figures[key] = fig
    return figures


def importance_figure(importance: pd.Series, top: int = 20):
    """A horizontal bar chart of the largest importances (gain), largest on top."""
    plt = _pyplot()
    shown = importance.sort_values(ascending=True).tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1.2))
    ax.barh(shown.index.astype(str), shown.to_numpy())
    ax.set(title="Feature importance (gain)", xlabel="total gain")
    fig.tight_layout()
    return fig


def feature_importance(estimator) -> pd.Series | None:
    """Gain importance by input, from the estimator's LightGBM booster when it has one."""
    for holder in (getattr(estimator, "explainer_", None), getattr(estimator, "booster_", None)):
        booster = getattr(holder, "booster_", holder)  # LightGBM's sklearn wrapper, or its Booster
        if booster is not None and hasattr(booster, "feature_importance"):
            return pd.Series(booster.feature_importance("gain"), index=booster.feature_name())
    return None


def close(figures) -> None:
    plt = _pyplot()
    for figure in figures:
        plt.close(figure)


def forecast_figure(forecasts: pd.DataFrame):
    """The candidate's last backtest window, every series summed by day: what sold, P50 and P10-P90."""
    plt = _pyplot()
    part = forecasts[forecasts["scorer"] == "spend"]
    part = part[part["window"] == part["window"].max()]
    daily = part.groupby("date")[["demand", "p10", "p50", "p90"]].sum()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(daily.index, daily["p10"], daily["p90"], alpha=0.25, label="P10-P90 (summed)")
    ax.plot(daily.index, daily["p50"], label="P50 (summed)")
    ax.plot(daily.index, daily["demand"], color="black", marker=".", label="units sold (in-stock days)")
    ax.set(title="Last backtest window, every series", xlabel="day", ylabel="units")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def elasticity_figure(table: pd.DataFrame, top: int = 30):
    """Own-price elasticities with their intervals, for the products with the narrowest intervals."""
    plt = _pyplot()
    shown = table.assign(width=table["ci_high"] - table["ci_low"]).nsmallest(top, "width")
    shown = shown.sort_values("elasticity")
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(shown) + 1.5))
    low, high = shown["elasticity"] - shown["ci_low"], shown["ci_high"] - shown["elasticity"]
    ax.errorbar(shown["elasticity"], shown["product_id"].astype(str), xerr=[low, high], fmt="o", capsize=2)
    ax.axvline(0, color="grey", linestyle=":")
    ax.set(title="Own-price elasticity and interval", xlabel="elasticity")
    fig.tight_layout()
    return fig


def policy_figure(table: pd.DataFrame):
    """Each offer policy's held-out value per member with its interval."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = table.index.astype(str)
    low = table["policy_value"] - table["policy_value_low"]
    high = table["policy_value_high"] - table["policy_value"]
    ax.errorbar(table["policy_value"], names, xerr=[low, high], fmt="o", capsize=3)
    ax.axvline(0, color="grey", linestyle=":")
    ax.set(title="Net margin added per held-out member", xlabel="per member, against no offer")
    fig.tight_layout()
    return fig
