"""Path attributions of a LightGBM binary booster (Saabas): a fast alternative to TreeSHAP for reason codes
over many rows.

Each tree's prediction is split along the path the row takes: moving from a node to its child changes
the expected output (the cover-weighted mean of the leaves below) by some amount, credited to the
feature the node splits on. A leaf's credits are fixed, so they are tabulated once per model; scoring
rows is then LightGBM's leaf lookup plus one sparse product. Like TreeSHAP, the credits and the bias add
up to the raw score exactly, so the probability comes from the same pass. Unlike TreeSHAP, credit
depends on the order of splits on the path (features split near the root get less of it).

Measured on the churn champion (benchmarks/customer_models.py): the top reason agrees with TreeSHAP's
for most customers, at a fraction of its time; the benchmark prints both figures.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from spend.models.boosting import SingleRow


class PathAttribution:
    def __init__(self, booster) -> None:
        """`booster`: a fitted lightgbm.Booster of a binary (one tree per iteration) model."""
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1:
            raise ValueError("path attributions need a binary or regression booster (one tree per iteration)")
        self.n_features = int(dump["max_feature_idx"]) + 1
        tables, self.bias = [], 0.0
        for tree in dump["tree_info"]:
            table = np.zeros((int(tree["num_leaves"]), self.n_features))
            root = tree["tree_structure"]
            _means(root)
            self.bias += root["_mean"]
            _credit(root, np.zeros(self.n_features), table)
            tables.append(table)
        self.table = np.vstack(tables)  # (all leaves, features)
        self.offsets = np.cumsum([0] + [len(t) for t in tables[:-1]])

    def contributions(self, booster, values: np.ndarray, threads: int = 0) -> np.ndarray:
        """(rows, features + 1): each feature's credit, then the bias; rows sum to the raw score. One row
        goes through LightGBM's single-row path (a payment's reasons on the request path)."""
        if len(values) == 1:
            single = SingleRow.of(booster, values.shape[1], "leaf")
            if single is not None:
                leaves = single.predict(values[0]).astype(np.int64)
                self._check_trees(len(leaves))
                # Tree by tree, as the sparse product below adds them: one row, the same sums either way.
                return np.append(self.table[leaves + self.offsets].sum(axis=0), self.bias)[None, :]
        leaves = booster.predict(values, pred_leaf=True, num_threads=threads).reshape(len(values), -1)
        rows, trees = leaves.shape
        self._check_trees(trees)
        one_hot = csr_matrix(
            (np.ones(rows * trees), (leaves + self.offsets).ravel(), np.arange(0, rows * trees + 1, trees)),
            shape=(rows, len(self.table)),
        )
        credit = one_hot @ self.table
        return np.column_stack([credit, np.full(rows, self.bias)])

    def _check_trees(self, trees: int) -> None:
        if trees != len(self.offsets):
            raise ValueError(f"the booster has {trees} trees, the attribution table {len(self.offsets)}")


def _means(node: dict) -> tuple[float, float]:
    """Cover-weighted mean output and cover of every node (stored in the node as _mean)."""
    if "leaf_value" in node:
        node["_mean"] = float(node["leaf_value"])
        return node["_mean"], float(node.get("leaf_count", 1) or 1)
    left_mean, left_count = _means(node["left_child"])
    right_mean, right_count = _means(node["right_child"])
    count = left_count + right_count
    node["_mean"] = (left_mean * left_count + right_mean * right_count) / count
    return node["_mean"], count


def _credit(node: dict, path: np.ndarray, table: np.ndarray) -> None:
    """Fill each leaf's row of `table` with the credits along its path (`path`: credits so far)."""
    if "leaf_value" in node:
        table[int(node.get("leaf_index", 0))] = path
        return
    feature = int(node["split_feature"])
    for child in (node["left_child"], node["right_child"]):
        step = path.copy()
        step[feature] += child["_mean"] - node["_mean"]
        _credit(child, step, table)
