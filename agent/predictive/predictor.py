"""A trained predictive model: feature spec + fitted scorer + calibration, scoring leads.

This is what :func:`leadscore.agent.predictive.training.train` returns, what an artifact saves and loads, and
what the sync (hybrid mode, later) calls next to the rules engine. Scoring a lead is: snapshot it
now, build its columns with the saved spec, compute log-odds and per-input contributions,
calibrate, and turn the contributions into reason parts that sum to the score.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.explain import PredictiveScore, reason_parts
from leadscore.agent.predictive.features import FeatureSpec, Snapshot, snapshots_at, take_snapshot
from leadscore.agent.predictive.models import Calibrator, Scorer
from leadscore.agent.core.records import Activity, Lead, utc


@dataclass(frozen=True)
class PredictiveModel:
    spec: FeatureSpec
    scorer: Scorer
    calibrator: Calibrator
    explain_top: int = 3
    #: Training metadata (sizes, tuning, metrics, time): saved, shown, never part of the version.
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.spec.columns) != self.scorer.n_features:
            raise ValueError(f"feature spec has {len(self.spec.columns)} columns, the model expects {self.scorer.n_features}")

    @property
    def kind(self) -> str:
        return self.scorer.kind

    @property
    def version(self) -> str:
        """Hash of the fitted parameters and the feature spec: equal models, equal versions."""
        cached = self.__dict__.get("_version")
        if cached is None:
            cached = fingerprint(self)
            object.__setattr__(self, "_version", cached)
        return cached

    # --- prediction ---

    def columns(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        return self.spec.transform(snapshots)

    def logit(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        return self.scorer.logit(self.columns(snapshots))

    def probabilities(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        """Calibrated probability of converting, one per snapshot."""
        return self.calibrator(self.logit(snapshots))

    def input_contributions(self, snapshots: Sequence[Snapshot]) -> tuple[float, NDArray[np.float64]]:
        """(bias, log-odds contributions per *input*: columns of one field summed)."""
        bias, per_column = self.scorer.contributions(self.columns(snapshots))
        membership = np.zeros((per_column.shape[1], len(self.spec.inputs)))
        membership[np.arange(per_column.shape[1]), self.spec.column_input] = 1.0
        return bias, per_column @ membership

    def explain_snapshots(self, snapshots: Sequence[Snapshot]) -> list[PredictiveScore]:
        bias, contributions = self.input_contributions(snapshots)
        components: list[Literal["fit", "engagement"]] = [self.spec.input_kind(i) for i in range(len(self.spec.inputs))]
        out = []
        for row, snap in enumerate(snapshots):
            score, p, parts = reason_parts(
                bias, contributions[row], self.calibrator, functools.partial(self._describe, snap), components, self.explain_top
            )
            out.append(PredictiveScore(snap.lead_id, score, p, parts, self.version, snap.at))
        return out

    def _describe(self, snapshot: Snapshot, index: int) -> str:
        return self.spec.describe(index, snapshot)

    def score(self, lead: Lead, activities: Iterable[Activity] = (), as_of: datetime | None = None) -> PredictiveScore:
        """Score one lead now (or at ``as_of``): only activities before that instant count."""
        at = utc(as_of) if as_of is not None else datetime.now(timezone.utc)
        return self.explain_snapshots([take_snapshot(lead, activities, at)])[0]

    def score_all(
        self, leads: Iterable[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None
    ) -> list[PredictiveScore]:
        at = utc(as_of) if as_of is not None else datetime.now(timezone.utc)
        return self.explain_snapshots(snapshots_at(leads, activities, at))


# --- the version: a hash of everything that can change a score or a reason ------------------------

#: The model file format's version (see :mod:`leadscore.agent.predictive.artifacts`); part of the hash.
FORMAT_VERSION = 1
ARRAY_DTYPES: dict[str, np.dtype[Any]] = {"float64": np.dtype("<f8"), "int64": np.dtype("<i8"), "bool": np.dtype("|b1")}


def canonical_array(array: NDArray[Any]) -> NDArray[Any]:
    kind = np.asarray(array).dtype.kind
    dtype = ARRAY_DTYPES["bool"] if kind == "b" else ARRAY_DTYPES["int64"] if kind in "iu" else ARRAY_DTYPES["float64"]
    return np.ascontiguousarray(np.asarray(array, dtype=dtype))


def version_parts(model: PredictiveModel) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """What the version covers: everything that can change a score or a reason."""
    scorer_scalars, scorer_arrays = model.scorer.params()
    calibrator_scalars, calibrator_arrays = model.calibrator.params()
    core = {
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "feature_spec": model.spec.to_dict(),
        "scorer": scorer_scalars,
        "calibrator": calibrator_scalars,
        "explain_top": model.explain_top,
    }
    arrays = {f"scorer.{k}": canonical_array(v) for k, v in scorer_arrays.items()}
    arrays.update({f"calibrator.{k}": canonical_array(v) for k, v in calibrator_arrays.items()})
    return core, arrays


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def fingerprint(model: PredictiveModel, length: int = 16) -> str:
    core, arrays = version_parts(model)
    digest = hashlib.sha256(canonical_json(core))
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(canonical_json([name, array.dtype.str, list(array.shape)]))
        digest.update(array.tobytes())
    return digest.hexdigest()[:length]
