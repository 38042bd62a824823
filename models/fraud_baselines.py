"""The Fraud Detection Handbook's baselines as servable fraud scorers.

Same interface as FraudModel: P(fraud) on a DataFrame or on a float matrix of `features_` (the request
path of one payment), the stored alert threshold, and reasons (the inputs pushing a payment's score up
most). So when a baseline beats the candidate on the test week, the gate registers and serves it.

Reasons: for the logistic regression, each input's term of the linear score (its standardised value
times its coefficient); for trees, Saabas' path attribution (each split on the payment's path credits
its feature with the change in the node's fraud share), averaged over a forest's trees. A few rows (the
request path) walk every tree in one compiled pass (models/forest_paths.py); batches use scikit-learn's.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import scipy.sparse
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from spend.models.alert_threshold import AlertThreshold
from spend.models.boosting import SMALL_BATCH, reasons_from
from spend.models.forest_paths import CompiledForest, fraud_share

KINDS = ("logistic_regression", "decision_tree_depth_2", "random_forest")
_LAYING_OUT = threading.Lock()  # module-level: a lock on the model would not pickle


def _estimator(kind: str, random_state: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    if kind == "logistic_regression":
        return LogisticRegression(max_iter=1000, random_state=random_state)
    if kind == "decision_tree_depth_2":
        return DecisionTreeClassifier(max_depth=2, random_state=random_state)
    return RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=random_state)


class FraudBaseline(AlertThreshold, BaseEstimator):
    def __init__(self, kind: str = "logistic_regression", random_state: int = 0) -> None:
        self.kind = kind
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> FraudBaseline:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        self.features_ = list(X.columns)
        self.categories_ = None  # numbers only, as FraudModel's request path expects
        values = X.to_numpy(dtype=np.float64)
        self.estimator_ = _estimator(self.kind, self.random_state)
        if self.kind == "logistic_regression":
            # Standardised by hand, so one payment is a dot product (sklearn's checks cost more than it).
            self.mean_, sd = values.mean(axis=0), values.std(axis=0)
            self.scale_ = np.where(sd > 0, sd, 1.0)
            self.estimator_.fit((values - self.mean_) / self.scale_, np.asarray(y, dtype=int))
        else:
            self.estimator_.fit(values, np.asarray(y, dtype=int))
            self._tabulate_paths()
        return self

    def _trees(self) -> list:
        return list(getattr(self.estimator_, "estimators_", [self.estimator_]))

    def _tabulate_paths(self) -> None:
        """Per node of every tree (in decision_path's column order): the feature its parent split on and
        the change in fraud share from the parent to it."""
        features, deltas = [], []
        for tree in self._trees():
            t = tree.tree_
            share = fraud_share(t.value[:, 0, :])
            parent = np.full(t.node_count, -1)
            inner = np.flatnonzero(t.children_left >= 0)
            parent[t.children_left[inner]] = inner
            parent[t.children_right[inner]] = inner
            has = parent >= 0
            features.append(np.where(has, t.feature[np.maximum(parent, 0)], 0))
            deltas.append(np.where(has, share - share[np.maximum(parent, 0)], 0.0))
        self.path_features_ = np.concatenate(features).astype(np.int64)
        self.path_deltas_ = np.concatenate(deltas)

    def prepare_to_serve(self) -> None:
        """Lay the trees out and compile their walk now (the service calls this on loading)."""
        if self.kind != "logistic_regression":
            self._compiled().prepare()

    def _compiled(self) -> CompiledForest:
        compiled = getattr(self, "compiled_", None)
        if compiled is None:  # laid out once per model, not in every fit of the prequential selection
            with _LAYING_OUT:
                compiled = getattr(self, "compiled_", None) or CompiledForest(self._trees(), len(self.features_))
                self.compiled_ = compiled
        return compiled

    def _check(self) -> None:
        if not hasattr(self, "estimator_"):
            raise NotFittedError("FraudBaseline is not fitted yet; call fit first")

    def _values(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        self._check()
        if isinstance(X, pd.DataFrame):
            X = X[self.features_]
        values = np.asarray(X, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.features_):
            raise ValueError(f"expected rows of {len(self.features_)} features ({', '.join(self.features_)})")
        return values

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """P(fraud) per row (one column, as FraudModel)."""
        values = self._values(X)
        if self.kind == "logistic_regression":
            model = self.estimator_
            return expit((values - self.mean_) / self.scale_ @ model.coef_[0] + model.intercept_[0])
        if len(values) < SMALL_BATCH:
            # Every tree in one compiled walk: sklearn's checks and a forest's joblib threads (or a call per
            # tree) cost far more than a few rows through the trees.
            return self._compiled().scores_and_credits(values)[0]
        return self.estimator_.predict_proba(values)[:, 1]

    predict_values = predict_proba  # the request path: a float matrix whose columns are features_

    def contributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """(rows, features): each input's share of each row's score (see the module's docstring)."""
        values = self._values(X)
        if self.kind == "logistic_regression":
            return (values - self.mean_) / self.scale_ * self.estimator_.coef_[0]
        if len(values) < SMALL_BATCH:  # a payment's alert: the compiled walk, as its score
            return self._compiled().scores_and_credits(values)[1]
        # Tree by tree (one sparse path matrix each, side by side in the tabulated order): a forest's own
        # decision_path goes through joblib's threads.
        rows = values.astype(np.float32)
        path = scipy.sparse.hstack([tree.tree_.decision_path(rows) for tree in self._trees()], format="csr")
        out = np.zeros((len(values), len(self.features_)))
        for i in range(len(values)):
            nodes = path.indices[path.indptr[i] : path.indptr[i + 1]]
            out[i] = np.bincount(
                self.path_features_[nodes], weights=self.path_deltas_[nodes], minlength=len(self.features_)
            )
        return out / len(self._trees())

    def explain(self, X: pd.DataFrame | np.ndarray, top: int = 3) -> list[list[str]]:
        return reasons_from(self.contributions(X), self.features_, top)

    explain_values = explain
