"""The fitted models, as plain arrays that predict and explain without scikit-learn.

scikit-learn fits; these classes keep only the numbers that came out (coefficients, tree nodes,
calibration maps) and compute predictions and contributions with numpy. That is what makes a
saved model safe to load (JSON and ``.npz``, never pickle: loading cannot run code) and stable
across scikit-learn upgrades (no private estimator state to unpickle).

* :class:`LinearLogit`: L2-regularised logistic regression on standardised columns. Its
  contributions are exact: ``logit = intercept + sum_j coef_j * (x_j - mean_j) / scale_j``, so
  the intercept is the log-odds of the average lead and each term is what a column adds to it.
* :class:`TreeEnsembleLogit`: scikit-learn's ``HistGradientBoostingClassifier`` trees, copied
  node by node from its ``_predictors`` arrays. Contributions use **Saabas path attribution**
  (as in the ``treeinterpreter`` package): walking a lead down each tree, every split moves the
  expected value (count-weighted mean of the leaves below) from the parent's to the child's, and
  that change is credited to the split's feature. It is exactly additive (bias + contributions
  = the raw log-odds, to float precision), cheap (one pass per tree), and model-specific;
  unlike TreeSHAP it is path-dependent, so features split near the root can get more credit.
* :class:`Calibrator`: Platt scaling (``sigmoid``) or isotonic regression fitted on
  *out-of-fold* log-odds, so the 0-100 score is a probability you can read as one.

Tuning and calibration share one inner cross-validation (:func:`fit_calibrated`): each candidate
setting is scored by out-of-fold log-loss, the best one's out-of-fold log-odds fit the
calibrator, and the final model is refitted on all the data (CalibratedClassifierCV's
``ensemble=False`` scheme). A logistic C chosen at either end of ``logistic_c`` means the
optimum may lie outside the grid: the tuning info says so (``edge``, ``warning``) and a
:class:`TuningEdgeWarning` is raised as a warning, so a grid that is too narrow is seen.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import BoostingCandidate, ModelKind, PredictiveConfig
from leadscore.agent.predictive.splits import Fold

Arrays = dict[str, NDArray[Any]]


class TuningEdgeWarning(UserWarning):
    """The chosen hyperparameter is the smallest or largest of its grid: widen the grid."""


def _sigmoid(z: NDArray[np.float64] | float) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -500, 500))), dtype=np.float64)


def logit_log_loss(y: NDArray[np.integer], z: NDArray[np.float64]) -> float:
    """Log-loss of log-odds ``z`` (computed stably from the logits)."""
    return float(np.mean(np.logaddexp(0.0, -z) * y + np.logaddexp(0.0, z) * (1 - y)))


# --- linear ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearLogit:
    kind: ClassVar[ModelKind] = "logistic"
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: float
    C: float = 1.0

    @property
    def n_features(self) -> int:
        return int(self.coef.size)

    def logit(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.intercept + ((X - self.mean) / self.scale) @ self.coef

    def contributions(self, X: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        """(log-odds of the average lead, per-column log-odds contributions); exact."""
        return self.intercept, ((X - self.mean) / self.scale) * self.coef

    def params(self) -> tuple[dict[str, Any], Arrays]:
        return {"intercept": self.intercept, "C": self.C}, {"mean": self.mean, "scale": self.scale, "coef": self.coef}

    @classmethod
    def from_params(cls, scalars: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> LinearLogit:
        mean, scale, coef = (np.asarray(arrays[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
        if not (mean.ndim == scale.ndim == coef.ndim == 1 and mean.size == scale.size == coef.size):
            raise ValueError("mean, scale and coef must be vectors of one length")
        if not (np.isfinite(mean).all() and np.isfinite(coef).all() and (scale > 0).all()):
            raise ValueError("linear parameters must be finite, with positive scales")
        return cls(mean, scale, coef, float(scalars["intercept"]), float(scalars.get("C", 1.0)))


def fit_logistic(X: NDArray[np.float64], y: NDArray[np.integer], C: float) -> LinearLogit:
    """L2 logistic regression on standardised columns (so one C suits every column's units)."""
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale < 1e-12, 1.0, scale)
    model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=200, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        model.fit((X - mean) / scale, y)
    return LinearLogit(mean, scale, model.coef_.ravel().astype(np.float64), float(model.intercept_[0]), float(C))


# --- trees -----------------------------------------------------------------------------------

_NODE_ARRAYS = ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value", "count")


@dataclass(frozen=True)
class TreeEnsembleLogit:
    """Boosted regression trees on log-odds. Node arrays of all trees are concatenated;
    ``left``/``right`` are global node indices; ``roots`` the first node of each tree."""

    kind: ClassVar[ModelKind] = "gradient_boosting"
    baseline: float
    n_features: int
    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    missing_left: NDArray[np.bool_]
    left: NDArray[np.int64]
    right: NDArray[np.int64]
    is_leaf: NDArray[np.bool_]
    value: NDArray[np.float64]
    count: NDArray[np.float64]
    roots: NDArray[np.int64]
    settings: Mapping[str, Any] = field(default_factory=dict)
    _expected: NDArray[np.float64] = field(init=False, repr=False)
    _depth: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._validate()
        expected = np.where(self.is_leaf, self.value, 0.0)
        for i in range(self.value.size - 1, -1, -1):  # children come after parents
            if not self.is_leaf[i]:
                l, r = self.left[i], self.right[i]
                total = self.count[l] + self.count[r]
                expected[i] = (
                    (self.count[l] * expected[l] + self.count[r] * expected[r]) / total
                    if total > 0
                    else 0.5 * (expected[l] + expected[r])
                )
        depth = np.zeros(self.value.size, dtype=np.int64)
        for i in range(self.value.size):
            if not self.is_leaf[i]:
                depth[self.left[i]] = depth[self.right[i]] = depth[i] + 1
        object.__setattr__(self, "_expected", expected)
        object.__setattr__(self, "_depth", int(depth.max()) if depth.size else 0)

    def _validate(self) -> None:
        """Reject arrays that could index out of bounds or loop: every internal node's
        children must exist and come after it, within its own tree."""
        n = self.value.size
        if any(getattr(self, name).shape != (n,) for name in _NODE_ARRAYS):
            raise ValueError("tree node arrays differ in length")
        if self.roots.ndim != 1 or self.roots.size == 0 or self.roots[0] != 0 or (np.diff(self.roots) <= 0).any() or self.roots[-1] >= n:
            raise ValueError("tree roots must start at 0 and ascend within the node arrays")
        if not np.isfinite(self.value).all() or not np.isfinite(self.baseline):
            raise ValueError("tree values must be finite")
        internal = ~self.is_leaf
        idx = np.arange(n)
        tree_end = np.r_[self.roots[1:], n][np.searchsorted(self.roots, idx, side="right") - 1]
        for child in (self.left, self.right):
            c = child[internal]
            if ((c <= idx[internal]) | (c >= tree_end[internal])).any():
                raise ValueError("tree children must follow their parent within the same tree")
        f = self.feature[internal]
        if ((f < 0) | (f >= self.n_features)).any():
            raise ValueError("tree split on a feature outside the feature spec")

    @property
    def n_trees(self) -> int:
        return int(self.roots.size)

    def _walk(self, X: NDArray[np.float64], on_step: Callable[[Any, Any, Any], None] | None = None) -> NDArray[np.int64]:
        """Send every lead down every tree, level by level, calling ``on_step(rows, parent,
        child)`` for each step taken; return the leaf reached in each tree, shape (n, trees)."""
        n = X.shape[0]
        node = np.broadcast_to(self.roots, (n, self.roots.size)).copy()
        for _ in range(self._depth):
            rows, trees = np.nonzero(~self.is_leaf[node])
            if rows.size == 0:
                break
            parent = node[rows, trees]
            x = X[rows, self.feature[parent]]
            go_left = np.where(np.isnan(x), self.missing_left[parent], x <= self.threshold[parent])
            child = np.where(go_left, self.left[parent], self.right[parent])
            node[rows, trees] = child
            if on_step is not None:
                on_step(rows, parent, child)
        return node

    def logit(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        if X.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self.baseline + self.value[self._walk(X)].sum(axis=1), dtype=np.float64)

    def contributions(self, X: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        """Saabas path attribution: (bias, per-column contributions), bias + sum = logit."""
        n, m = X.shape[0], self.n_features
        flat = np.zeros(n * m, dtype=np.float64)

        def credit(rows: Any, parent: Any, child: Any) -> None:
            delta = self._expected[child] - self._expected[parent]
            flat[:] += np.bincount(rows * m + self.feature[parent], weights=delta, minlength=n * m)

        if n:
            self._walk(X, credit)
        bias = self.baseline + float(self._expected[self.roots].sum())
        return bias, flat.reshape(n, m)

    def params(self) -> tuple[dict[str, Any], Arrays]:
        arrays: Arrays = {name: getattr(self, name) for name in _NODE_ARRAYS}
        arrays["roots"] = self.roots
        return {"baseline": self.baseline, "n_features": self.n_features, "settings": dict(self.settings)}, arrays

    @classmethod
    def from_params(cls, scalars: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> TreeEnsembleLogit:
        return cls(
            baseline=float(scalars["baseline"]),
            n_features=int(scalars["n_features"]),
            feature=np.asarray(arrays["feature"], dtype=np.int64),
            threshold=np.asarray(arrays["threshold"], dtype=np.float64),
            missing_left=np.asarray(arrays["missing_left"], dtype=bool),
            left=np.asarray(arrays["left"], dtype=np.int64),
            right=np.asarray(arrays["right"], dtype=np.int64),
            is_leaf=np.asarray(arrays["is_leaf"], dtype=bool),
            value=np.asarray(arrays["value"], dtype=np.float64),
            count=np.asarray(arrays["count"], dtype=np.float64),
            roots=np.asarray(arrays["roots"], dtype=np.int64),
            settings=dict(scalars.get("settings", {})),
        )

    @classmethod
    def from_sklearn(cls, estimator: Any, n_features: int, settings: Mapping[str, Any] | None = None) -> TreeEnsembleLogit:
        """Copy a fitted binary ``HistGradientBoostingClassifier``'s trees. Relies on its
        private ``_predictors`` node arrays (stable since scikit-learn 0.21); a change there
        fails loudly here, at training, never at load time."""
        predictors = estimator._predictors
        nodes = [iteration[0].nodes for iteration in predictors]
        if not nodes:
            raise ValueError("the boosting model has no trees")
        for arr in nodes:
            if arr["is_categorical"].any():
                raise ValueError("categorical splits are not supported (features are one-hot encoded)")
        sizes = np.array([arr.size for arr in nodes], dtype=np.int64)
        roots = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
        offset = np.repeat(roots, sizes)
        cat = np.concatenate(nodes)
        leaf = cat["is_leaf"].astype(bool)
        return cls(
            baseline=float(np.asarray(estimator._baseline_prediction).ravel()[0]),
            n_features=n_features,
            feature=np.where(leaf, 0, cat["feature_idx"]).astype(np.int64),
            threshold=np.where(leaf, 0.0, cat["num_threshold"]).astype(np.float64),
            missing_left=cat["missing_go_to_left"].astype(bool),
            left=np.where(leaf, 0, cat["left"].astype(np.int64) + offset),
            right=np.where(leaf, 0, cat["right"].astype(np.int64) + offset),
            is_leaf=leaf,
            value=np.where(leaf, cat["value"], 0.0).astype(np.float64),
            count=cat["count"].astype(np.float64),
            roots=roots,
            settings=dict(settings or {}),
        )


def _boosting(candidate: BoostingCandidate, max_iter: int, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=candidate.learning_rate,
        max_leaf_nodes=candidate.max_leaf_nodes,
        l2_regularization=candidate.l2_regularization,
        max_iter=max_iter,
        early_stopping=False,
        random_state=seed,
    )


Scorer = LinearLogit | TreeEnsembleLogit


# --- calibration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibrator:
    """Raw log-odds -> probability. ``sigmoid``: ``1 / (1 + exp(-(a z + b)))``; ``isotonic``:
    a monotone step map (linearly interpolated between its knots, clipped at the ends)."""

    method: Literal["sigmoid", "isotonic"]
    a: float = 1.0
    b: float = 0.0
    knots_x: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    knots_y: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def __call__(self, z: NDArray[np.float64] | float) -> NDArray[np.float64]:
        z = np.asarray(z, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(z, self.knots_x, self.knots_y)
        return _sigmoid(self.a * z + self.b)

    @classmethod
    def fit(cls, z: NDArray[np.float64], y: NDArray[np.integer], method: Literal["sigmoid", "isotonic"]) -> Calibrator:
        if z.size == 0 or len(np.unique(y)) < 2:
            return cls("sigmoid")  # nothing to calibrate on: keep the model's own log-odds
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(z, y)
            return cls("isotonic", knots_x=np.asarray(iso.X_thresholds_, dtype=np.float64), knots_y=np.asarray(iso.y_thresholds_, dtype=np.float64))
        from sklearn.linear_model import LogisticRegression

        platt = LogisticRegression(C=1e6, solver="newton-cholesky", max_iter=200).fit(z[:, None], y)
        return cls("sigmoid", a=float(platt.coef_[0, 0]), b=float(platt.intercept_[0]))

    def params(self) -> tuple[dict[str, Any], Arrays]:
        if self.method == "isotonic":
            return {"method": "isotonic"}, {"knots_x": self.knots_x, "knots_y": self.knots_y}
        return {"method": "sigmoid", "a": self.a, "b": self.b}, {}

    @classmethod
    def from_params(cls, scalars: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> Calibrator:
        method = scalars["method"]
        if method == "sigmoid":
            a, b = float(scalars["a"]), float(scalars["b"])
            if not (np.isfinite(a) and np.isfinite(b)):
                raise ValueError("calibration parameters must be finite")
            return cls("sigmoid", a, b)
        if method == "isotonic":
            x = np.asarray(arrays["knots_x"], dtype=np.float64)
            y = np.asarray(arrays["knots_y"], dtype=np.float64)
            if x.ndim != 1 or x.shape != y.shape or x.size == 0 or (np.diff(x) < 0).any() or (np.diff(y) < 0).any():
                raise ValueError("isotonic knots must be non-empty, equal-length and ascending")
            return cls("isotonic", knots_x=x, knots_y=y)
        raise ValueError(f"unknown calibration method {method!r}")


# --- tuning + calibration in one inner CV ------------------------------------------------------


def grid_edge(chosen: float, grid: Sequence[float]) -> dict[str, Any]:
    """``{"edge": "smallest" | "largest", "warning": ...}`` when ``chosen`` is at an end of a grid
    of several values (the optimum may lie beyond it), else ``{"edge": None}``."""
    values = sorted(set(grid))
    if len(values) < 2 or values[0] < chosen < values[-1]:
        return {"edge": None}
    edge = "smallest" if chosen == values[0] else "largest"
    beyond = "smaller" if edge == "smallest" else "larger"
    strength = "stronger" if edge == "smallest" else "weaker"
    return {
        "edge": edge,
        "warning": (
            f"logistic C={chosen:g} is the {edge} value of predictive.logistic_c ({', '.join(f'{c:g}' for c in values)}): "
            f"the best regularisation may be {strength} than the grid allows; add {beyond} values"
        ),
    }


@dataclass(frozen=True)
class FitResult:
    scorer: Scorer
    calibrator: Calibrator
    #: The chosen setting and each candidate's inner-CV log-loss (for the training report).
    tuning: Mapping[str, Any]


def fit_calibrated(
    kind: ModelKind, X: NDArray[np.float64], y: NDArray[np.integer], folds: Sequence[Fold], config: PredictiveConfig
) -> FitResult:
    """Choose hyperparameters by inner-CV log-loss, calibrate on the chosen setting's
    out-of-fold log-odds, refit on everything."""
    y = np.asarray(y, dtype=np.int64)
    covered = np.zeros(y.size, dtype=bool)
    for _, valid in folds:
        covered[valid] = True
    if kind == "logistic":
        best_loss, best_c, best_oof = np.inf, config.logistic_c[0], np.zeros(y.size)
        losses: dict[str, float] = {}
        for C in config.logistic_c:
            oof = np.zeros(y.size)
            for train, valid in folds:
                oof[valid] = fit_logistic(X[train], y[train], C).logit(X[valid])
            loss = logit_log_loss(y[covered], oof[covered]) if covered.any() else 0.0
            losses[f"C={C:g}"] = loss
            if loss < best_loss:
                best_loss, best_c, best_oof = loss, C, oof
        scorer: Scorer = fit_logistic(X, y, best_c)
        tuning: dict[str, Any] = {"chosen": {"C": best_c}, "inner_log_loss": losses, **grid_edge(best_c, config.logistic_c)}
        if "warning" in tuning:
            warnings.warn(tuning["warning"], TuningEdgeWarning, stacklevel=2)
    elif kind == "gradient_boosting":
        best = (np.inf, 0, config.boosting_max_iter)
        losses = {}
        staged_oof: list[NDArray[np.float64]] = []
        for ci, candidate in enumerate(config.boosting_grid):
            stages = np.zeros((config.boosting_max_iter, y.size), dtype=np.float64)
            for train, valid in folds:
                model = _boosting(candidate, config.boosting_max_iter, config.random_state).fit(X[train], y[train])
                for it, decision in enumerate(model.staged_decision_function(X[valid])):
                    stages[it, valid] = decision
            per_iter = np.array([logit_log_loss(y[covered], s[covered]) for s in stages]) if covered.any() else np.zeros(len(stages))
            it = int(np.argmin(per_iter))
            losses[f"lr={candidate.learning_rate:g},leaves={candidate.max_leaf_nodes},l2={candidate.l2_regularization:g}"] = float(per_iter[it])
            staged_oof.append(stages[it])
            if per_iter[it] < best[0]:
                best = (float(per_iter[it]), ci, it + 1)
        _, ci, n_iter = best
        best_oof = staged_oof[ci]
        candidate = config.boosting_grid[ci]
        chosen = {**candidate.model_dump(), "max_iter": n_iter}
        estimator = _boosting(candidate, n_iter, config.random_state).fit(X, y)
        scorer = TreeEnsembleLogit.from_sklearn(estimator, X.shape[1], chosen)
        tuning = {"chosen": chosen, "inner_log_loss": losses}
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    calibrator = Calibrator.fit(best_oof[covered], y[covered], config.calibration)
    return FitResult(scorer, calibrator, tuning)
