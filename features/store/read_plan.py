"""What the batch reader reads for a feature service: per feature view, its features, where they live
in Feast's layout (SQLite table, Redis hash fields) and in Spend's packed record, and its TTL."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from feast import FeatureStore, FeatureView

from spend.core.errors import SpendError
from spend.features.store import codec, records
from spend.features.store.feast_private import sqlite_table


@dataclass(frozen=True)
class ViewPlan:
    view: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    strings: frozenset[str]
    ttl_s: float
    table: str  # SQLite table
    redis_fields: tuple[bytes, ...]
    layout: int  # the view's record layout (records.layout_id)
    record_numeric: tuple[int, ...]  # where each wanted numeric feature sits in the record
    record_texts: tuple[int, ...]  # where each wanted text feature sits among the record's texts
    record_sizes: tuple[int, int]  # the record's numeric and text feature counts
    first_feature: str  # a feature every Feast row set has: its event time checks the record's

    @cached_property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f not in self.strings)

    @cached_property
    def texts(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f in self.strings)

    @cached_property
    def seconds_column(self) -> str:
        return f"{self.view}__event_seconds"

    @cached_property
    def found_column(self) -> str:
        return f"{self.view}__found"

    @cached_property
    def numeric_at(self) -> tuple[int, ...]:
        return tuple(j for j, f in enumerate(self.features) if f not in self.strings)

    @cached_property
    def text_at(self) -> tuple[int, ...]:
        return tuple(j for j, f in enumerate(self.features) if f in self.strings)

    @cached_property
    def hmget_fields(self) -> tuple[bytes, ...]:
        """Feast's Redis fields for the features, then the view's event-time field."""
        return (*self.redis_fields, codec.redis_ts_field(self.view))

    @cached_property
    def slots(self) -> dict[str, int]:
        """Where a feature's value goes: its row among the numeric ones, or -2 for text."""
        return {name: j for j, name in enumerate(self.numeric)} | dict.fromkeys(self.texts, -2)


def plans_for(store: FeatureStore, service: str | None, features: list[str] | None) -> list[ViewPlan]:
    if (service is None) == (features is None):
        raise SpendError("give either a feature service or a list of view:feature references")
    wanted = wanted_features(store, service, features)
    plans = []
    for view_name, names in wanted.items():
        try:
            view = store.get_feature_view(view_name)
        except Exception as error:  # Feast raises FeatureViewNotFoundException
            raise SpendError(f"unknown feature view {view_name!r}") from error
        known = {f.name: f for f in view.features}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SpendError(f"unknown feature(s) {', '.join(unknown)} in view {view_name}; it has {', '.join(known)}")
        plans.append(_plan(store, view, names))
    return plans


def wanted_features(store: FeatureStore, service: str | None, features: list[str] | None) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    if service is not None:
        try:
            fs = store.get_feature_service(service)
        except Exception as error:  # FeatureServiceNotFoundException
            names = ", ".join(s.name for s in store.list_feature_services())
            if not names:
                raise SpendError(
                    f"feature service {service!r} is not registered: nothing is registered in this data home's "
                    "feature store yet; run `spend features apply` (after `spend features build`), or `spend demo`"
                ) from error
            raise SpendError(f"unknown feature service {service!r}; known: {names}") from error
        for projection in fs.feature_view_projections:
            if any(v.name == projection.name for v in store.list_on_demand_feature_views()):
                continue  # request-time features are computed by the caller from the request
            wanted[projection.name] = [f.name for f in projection.features]
        return wanted
    for ref in features:
        view, sep, name = ref.partition(":")
        if not sep:
            raise SpendError(f"feature reference {ref!r} must be view:feature")
        wanted.setdefault(view, []).append(name)
    return wanted


def _plan(store: FeatureStore, view: FeatureView, names: list[str]) -> ViewPlan:
    numeric, texts = records.feature_kinds(view)
    return ViewPlan(
        view=view.name,
        join_keys=tuple(e.name for e in view.entity_columns),
        features=tuple(names),
        strings=frozenset(n for n in names if n in texts),
        ttl_s=view.ttl.total_seconds() if view.ttl else float("inf"),
        table=sqlite_table(store, view),
        redis_fields=tuple(codec.redis_field(view.name, n) for n in names),
        layout=records.layout_id(numeric, texts),
        record_numeric=tuple(numeric.index(n) for n in names if n not in texts),
        record_texts=tuple(texts.index(n) for n in names if n in texts),
        record_sizes=(len(numeric), len(texts)),
        first_feature=view.features[0].name,
    )
