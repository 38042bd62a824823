"""A fitted random forest's fraud score and Saabas path credits for a few rows, every tree in one compiled
pass (numba).

A payment on the request path went through the forest tree by tree (one scikit-learn call each, a
hundred calls), and an alert's reasons through a decision path per tree: most of a served blend's time
(docs/fraud.md). Here the trees' nodes sit in flat arrays, and one compiled loop walks each row down
every tree, adding the leaf's fraud share to the score and, at each split, the change in fraud share to
the split feature's credit. The walk follows scikit-learn's: a value goes left when, as a float32, it is
at most the threshold; a missing value goes where the tree sends missing values.
"""

from __future__ import annotations

import numpy as np


def fraud_share(values: np.ndarray) -> np.ndarray:
    """P(fraud) from a tree's (nodes, classes) values, class counts or fractions."""
    return values[:, 1] / values.sum(axis=1)


class CompiledForest:
    def __init__(self, trees: list, n_features: int) -> None:
        """`trees`: fitted scikit-learn classification trees (a forest's estimators_)."""
        lefts, rights, features, thresholds, missing, shares, roots = [], [], [], [], [], [], []
        offset = 0
        for tree in trees:
            t = tree.tree_
            inner = t.children_left >= 0
            lefts.append(np.where(inner, t.children_left + offset, -1))
            rights.append(np.where(inner, t.children_right + offset, -1))
            features.append(np.where(inner, t.feature, 0))
            thresholds.append(t.threshold)
            missing.append(np.asarray(getattr(t, "missing_go_to_left", np.ones(t.node_count)), dtype=np.bool_))
            shares.append(fraud_share(t.value[:, 0, :]))
            roots.append(offset)
            offset += t.node_count
        self.n_features = n_features
        self.left, self.right = np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)
        self.feature = np.concatenate(features).astype(np.int64)
        self.threshold = np.concatenate(thresholds).astype(np.float64)
        self.missing_left = np.concatenate(missing)
        self.share = np.concatenate(shares).astype(np.float64)
        self.roots = np.asarray(roots, dtype=np.int64)

    def scores_and_credits(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(fraud) per row (the trees' mean leaf share) and (rows, features) path credits averaged over
        the trees; each row's credits add up to its score minus the trees' mean root share."""
        rows = np.ascontiguousarray(values, dtype=np.float32).astype(np.float64)  # as scikit-learn compares
        return _walk()(rows, self.roots, self.left, self.right, self.feature, self.threshold,
                       self.missing_left, self.share, self.n_features)  # fmt: skip

    def prepare(self) -> None:
        """Compile the walk now (about a second, once per process) rather than on the first payment."""
        self.scores_and_credits(np.zeros((1, self.n_features)))


_COMPILED: list = []


def _walk():
    """The compiled loop, built on first use: importing numba costs start-up time only where a forest
    is served."""
    if not _COMPILED:
        from numba import njit

        @njit(cache=False, nogil=True)
        def walk(rows, roots, left, right, feature, threshold, missing_left, share, n_features):
            n, trees = rows.shape[0], roots.shape[0]
            scores = np.zeros(n)
            credits = np.zeros((n, n_features))
            for i in range(n):
                for t in range(trees):
                    node = roots[t]
                    while left[node] != -1:
                        f = feature[node]
                        x = rows[i, f]
                        go_left = missing_left[node] if np.isnan(x) else x <= threshold[node]
                        child = left[node] if go_left else right[node]
                        credits[i, f] += share[child] - share[node]
                        node = child
                    scores[i] += share[node]
            return scores / trees, credits / trees

        _COMPILED.append(walk)
    return _COMPILED[0]
