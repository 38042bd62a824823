"""The sections of `spend report`: each gathers its figures from the home and says in one line what they
show, or why it has none (a model not trained yet, nothing published). Charts are plotly figures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spend.core.errors import SpendError
from spend.core.names import DEMAND_FORECAST, MANIFEST, MONITORING, RECALL_LIST, SEGMENTS
from spend.core.settings import SpendSettings


@dataclass
class Section:
    title: str
    reading: str  # one line: what the charts say, or why there are none
    figures: list = field(default_factory=list)


def _go():
    import plotly.graph_objects as go

    return go


def quality(settings: SpendSettings) -> Section:
    from spend.features.quality.scorecard import scorecard

    card = scorecard(settings)["tables"]
    if not card:
        return Section("Data quality", "nothing ingested yet: run `spend ingest` or `spend demo`")
    go = _go()
    names = list(card)
    figure = go.Figure(go.Bar(x=names, y=[card[t]["overall"] for t in names], name="overall"))
    figure.update_layout(yaxis={"title": "score (0-100)", "range": [0, 100]})
    worst = min(names, key=lambda t: card[t]["overall"])
    return Section(
        "Data quality", f"{len(names)} tables; the lowest is {worst} at {card[worst]['overall']:.1f}", [figure]
    )


def segments(settings: SpendSettings) -> Section:
    path = settings.paths.published / SEGMENTS
    if not path.exists():
        return Section("Segments", "nothing published yet: run `spend publish` (or `spend demo`)")
    frame = pd.read_parquet(path)
    manifest = json.loads((settings.paths.published / MANIFEST).read_text())
    if frame.empty:  # published without customers (daily totals): say why, not an empty chart
        why = manifest.get("segments_skipped", "no active customer as of the publication")
        return Section("Segments", f"published without segments: {why}")
    names = manifest["cluster_names"]
    go = _go()
    by_segment = frame["segment"].value_counts()
    by_cluster = frame["cluster"].astype(str).map(lambda k: f"{k}: {names.get(k, k)}").value_counts()
    figures = [
        go.Figure(go.Bar(x=by_segment.index, y=by_segment.to_numpy())).update_layout(title="RFM segments"),
        go.Figure(go.Bar(x=by_cluster.index, y=by_cluster.to_numpy())).update_layout(title="behaviour clusters"),
    ]
    largest = by_segment.index[0]
    reading = (
        f"{len(frame):,} active customers; the largest segment is {largest} ({by_segment.iloc[0] / len(frame):.0%})"
    )
    return Section("Segments", reading, figures)


def _unpublished_recall(settings: SpendSettings) -> str | None:
    """Why there is no recall list to read: never published, or published without one (and why)."""
    manifest = settings.paths.published / MANIFEST
    if manifest.exists():
        skipped = json.loads(manifest.read_text()).get("recall_list_skipped")
        if skipped:
            return f"published without a recall list: {skipped}"
    if not (settings.paths.published / RECALL_LIST).exists():
        return "nothing published yet: run `spend publish` (or `spend demo`)"
    return None


def churn(settings: SpendSettings) -> Section:
    path = settings.paths.published / RECALL_LIST
    if why := _unpublished_recall(settings):
        return Section("Churn", why)
    go = _go()
    bands = pd.read_parquet(path, columns=["churn_band"])["churn_band"].value_counts()
    bands = bands.reindex(["low", "medium", "high"]).fillna(0)
    figures = [go.Figure(go.Bar(x=bands.index, y=bands.to_numpy())).update_layout(title="churn bands")]
    reading = f"{int(bands['high']):,} customers in the high band"
    try:
        predicted, observed = _calibration(settings)
    except SpendError as error:
        return Section("Churn", f"{reading}; no calibration curve: {error}", figures)
    curve = go.Figure(
        [
            go.Scatter(x=predicted, y=observed, mode="lines+markers", name="churn model"),
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dash"}),
        ]
    ).update_layout(title="calibration on the latest complete cohort", xaxis_title="predicted", yaxis_title="observed")
    gap = float(np.max(np.abs(np.asarray(predicted) - np.asarray(observed))))
    return Section(
        "Churn", f"{reading}; predicted and observed churn differ by at most {gap:.2f} per decile", [*figures, curve]
    )


def _calibration(settings: SpendSettings) -> tuple[list[float], list[float]]:
    from sklearn.calibration import calibration_curve

    from spend.core.registry import spec
    from spend.training.config import load_config
    from spend.training.dataset import latest_day
    from spend.training.datasets.customer_cohorts import labelled_cohort
    from spend.training.tracking import Registry

    model_spec = spec("churn")
    config = load_config(model_spec)
    model, _ = Registry(settings).load("churn", feature_service=model_spec.feature_service)
    cutoff = latest_day(settings) - pd.Timedelta(days=config.label.horizon_days)
    scores, label = labelled_cohort(settings, model_spec, config, model, cutoff)
    observed, predicted = calibration_curve(label, scores, n_bins=10, strategy="quantile")
    return predicted.tolist(), observed.tolist()


def _recall_reading(value: np.ndarray, unknown: int, measured: bool = True) -> str:
    """The value curve in one line; customers without a saved margin (an unknown value) are counted, not
    read as saving nothing. Without a measured uplift (`measured` False) the value is the margin at risk."""
    what = "expected saved margin" if measured else "margin at risk (no campaign has measured a contact's effect)"
    if not len(value) or value[-1] <= 0:
        reading = "no contact on the list is expected to save any margin"
    else:
        half = int(np.searchsorted(value, value[-1] / 2)) + 1
        reading = f"half of the list's {what} ({value[-1]:,.0f}) comes from its first {half:,} customers"
    return reading + (f" ({unknown:,} customers without a known saved margin left out)" if unknown else "")


def recall(settings: SpendSettings) -> Section:
    path = settings.paths.published / RECALL_LIST
    if why := _unpublished_recall(settings):
        return Section("Recall list", why)
    go = _go()
    frame = pd.read_parquet(path, columns=["expected_saved_margin", "uplift_source"]).sort_values(
        "expected_saved_margin", ascending=False
    )
    measured = not frame["uplift_source"].astype(str).str.startswith("none").all()
    saved = frame["expected_saved_margin"]
    value = saved.dropna().clip(lower=0).cumsum().to_numpy()
    figures = [
        go.Figure(go.Scatter(x=np.arange(1, len(value) + 1), y=value, mode="lines")).update_layout(
            title="expected saved margin by contacts",
            xaxis_title="customers contacted, best first",
            yaxis_title="margin",
        )
    ]
    reading = _recall_reading(value, int(saved.isna().sum()), measured)
    qini = _qini(settings)
    if isinstance(qini, str):
        return Section("Recall list", f"{reading}; no Qini curve: {qini}", figures)
    gained, random = qini
    x = np.arange(1, len(gained) + 1)
    figures.append(
        go.Figure(
            [
                go.Scatter(x=x, y=gained, mode="lines", name="uplift ranking"),
                go.Scatter(x=x, y=random, mode="lines", name="random", line={"dash": "dash"}),
            ]
        ).update_layout(
            title="Qini curve on the win-back campaigns (cross-fitted)",
            xaxis_title="customers",
            yaxis_title="extra responders",
        )
    )
    return Section(
        "Recall list",
        f"{reading}; the uplift ranking gains {gained[len(gained) // 10]:.0f} responders in its top tenth "
        f"against {random[len(random) // 10]:.0f} at random",
        figures,
    )


def _qini(settings: SpendSettings):
    from spend.features.ingest.store import OfflineStore
    from spend.models.uplift import qini_curve
    from spend.training.campaigns import cross_fitted_uplift, winback_campaigns
    from spend.training.dataset import order_lines

    campaign = winback_campaigns(settings, order_lines(OfflineStore(settings.paths)), "churn_v1")
    if isinstance(campaign, str):
        return campaign
    try:
        uplift = cross_fitted_uplift(campaign)
    except ValueError as error:
        return str(error)
    return qini_curve(uplift, campaign.frame["treated"], campaign.frame["responded"])


def fraud(settings: SpendSettings) -> Section:
    from sklearn.metrics import precision_recall_curve

    from spend.core.registry import spec
    from spend.features.compute.payments import FEATURES
    from spend.training.config import load_config
    from spend.training.fraud import payments_with_features
    from spend.training.tracking import Registry

    try:  # the data first: a shop without card payments is told so, not to train a model it cannot have
        frame = payments_with_features(settings)
        model, _ = Registry(settings).load("fraud", feature_service="fraud_v1")
    except SpendError as error:
        return Section("Fraud", f"not available: {error}")
    delay = load_config(spec("fraud")).protocol.delay_days
    known = frame["ts"].max() - pd.Timedelta(days=delay)
    recent = frame[(frame["ts"] < known) & (frame["ts"] >= known - pd.Timedelta(days=28))]
    if recent["is_fraud"].sum() == 0:
        return Section("Fraud", "no confirmed fraud in the last four weeks whose labels are known")
    scores = model.predict_proba(recent[list(FEATURES)])
    precision, recall_, _ = precision_recall_curve(recent["is_fraud"], scores)
    alerts = (
        pd.Series(scores >= getattr(model, "threshold_", 0.5), index=recent.index).groupby(recent["ts"].dt.date).sum()
    )
    go = _go()
    figures = [
        go.Figure(go.Scatter(x=recall_, y=precision, mode="lines")).update_layout(
            title="precision-recall, last four weeks with known labels", xaxis_title="recall", yaxis_title="precision"
        ),
        go.Figure(go.Bar(x=[str(d) for d in alerts.index], y=alerts.to_numpy())).update_layout(title="alerts per day"),
    ]
    reading = (
        f"{int(recent['is_fraud'].sum())} confirmed frauds in {len(recent):,} payments; "
        f"{alerts.mean():.1f} alerts a day on average"
    )
    return Section("Fraud", reading, figures)


def supply(settings: SpendSettings) -> Section:
    path = settings.paths.published / DEMAND_FORECAST
    if not path.exists():
        return Section("Demand", "no published forecast: train demand, then `spend publish` (or `spend demo`)")
    frame = pd.read_parquet(path)
    daily = frame.groupby("date")[["p10", "p50", "p90", "mean"]].sum().reset_index()
    go = _go()
    figure = go.Figure(
        [
            go.Scatter(x=daily["date"], y=daily["p90"], mode="lines", line={"width": 0}, name="P90"),
            go.Scatter(
                x=daily["date"], y=daily["p10"], mode="lines", line={"width": 0}, fill="tonexty", name="P10-P90"
            ),
            go.Scatter(x=daily["date"], y=daily["mean"], mode="lines", name="expected units"),
        ]
    ).update_layout(title="units a day, every series summed", yaxis_title="units")
    reading = (
        f"{frame[['product_id', 'store_id']].drop_duplicates().shape[0]:,} series; "
        f"{daily['mean'].sum():,.0f} units expected over {len(daily)} days"
    )
    return Section("Demand", reading, [figure])


def pricing(settings: SpendSettings) -> Section:
    from spend.training.tracking import Registry

    try:
        model, _ = Registry(settings).load("pricing", feature_service="pricing_v1")
        table = model.quote_inputs().sort_values("units", ascending=False).head(5)
    except (SpendError, AttributeError) as error:
        return Section("Prices", f"not available: {error}")
    go = _go()
    ratio = np.linspace(0.8, 1.2, 21)
    figure = go.Figure(
        [
            go.Scatter(
                x=ratio,
                y=row.units * ratio**row.elasticity,
                mode="lines",
                name=f"{row.product_id} ({row.elasticity:.2f})",
            )
            for row in table.itertuples()
        ]
    ).update_layout(
        title="expected units a day against price (x today's)", xaxis_title="price / today's", yaxis_title="units a day"
    )
    steepest = table.loc[table["elasticity"].idxmin()]
    return Section(
        "Prices",
        f"of the five best sellers, {steepest['product_id']} reacts most to price "
        f"(elasticity {steepest['elasticity']:.2f})",
        [figure],
    )


def drift(settings: SpendSettings) -> Section:
    path = settings.paths.home / "monitoring" / MONITORING
    if not path.exists():
        return Section("Drift", "`spend monitor` has not run yet")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):  # a damaged file: the next run writes it again
        return Section("Drift", "`spend monitor`'s last result cannot be read: run `spend monitor` again")
    go = _go()
    figures, states = [], []
    for name, checked in result["models"].items():
        states.append(f"{name} {checked['status']}")
        features = pd.DataFrame(checked.get("features", []))
        if features.empty:
            continue
        figures.append(
            go.Figure(
                [
                    go.Bar(x=features["feature"], y=features["psi"], name="PSI"),
                    go.Scatter(x=features["feature"], y=features["psi_limit"], mode="markers", name="limit"),
                ]
            ).update_layout(title=f"{name}: population stability per feature")
        )
    return Section("Drift", f"as of {result['as_of'][:10]}: {', '.join(states) or 'no champion'}", figures)


SECTIONS = (quality, segments, churn, recall, fraud, supply, pricing, drift)
