"""Saving and loading a predictive model safely: JSON (+ optional ``.npz``), never pickle.

A pickled or joblib'd model runs code when it is loaded, so a model file from a colleague, a
bucket or a CI artifact would be a way into the agent. Here a model is only numbers and names:

* ``model.json`` holds the format, the version, the feature spec, scalar parameters, training
  info and, for small models, the arrays inline (as lists with their dtype and shape);
* larger models (boosted trees) put their arrays in a sidecar ``model.npz`` read with
  ``numpy.load(allow_pickle=False)``, which refuses object arrays.

Loading checks the format name and version (an unknown version is refused with the versions this
build reads), only accepts float64/int64/bool arrays, validates shapes and tree structure (see
:class:`~agent.predictive.models.TreeEnsembleLogit`), then recomputes the **version**: a SHA-256
over the canonical JSON of the spec and parameters and the bytes of every array. A file whose
contents do not hash to its recorded version was edited or corrupted and is refused. The same
hash is the model version written beside each score, so a CRM value traces to exact parameters;
training metadata (time, metrics) is saved but not hashed, so retraining on the same data with
the same settings reproduces the version.
"""

from __future__ import annotations

import json
import os
import math
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.errors import ArtifactError
from leadscore.agent.predictive.features import FeatureSpec
from leadscore.agent.predictive.models import Calibrator, LinearLogit, TreeEnsembleLogit
from leadscore.agent.predictive.predictor import ARRAY_DTYPES, PredictiveModel, version_parts

FORMAT = "leadscore.predictive-model"
SUPPORTED_VERSIONS = frozenset({1})
#: Arrays with more elements than this in total go to a sidecar ``.npz`` (``arrays="auto"``).
INLINE_LIMIT = 20_000
_SCORERS: dict[str, type[LinearLogit] | type[TreeEnsembleLogit]] = {"logistic": LinearLogit, "gradient_boosting": TreeEnsembleLogit}


def _dtype_name(array: NDArray[Any]) -> str:
    return {"b": "bool", "i": "int64"}.get(array.dtype.kind, "float64")


def _jsonable(value: Any) -> Any:
    """Training info as plain JSON (numpy scalars and arrays, tuples, non-finite floats)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def save_model(model: PredictiveModel, path: str | Path, arrays: str = "auto") -> list[Path]:
    """Write ``path`` (JSON) and, for large models or ``arrays="npz"``, ``path`` with suffix
    ``.npz``. Returns the files written."""
    if arrays not in ("auto", "inline", "npz"):
        raise ValueError("arrays must be 'auto', 'inline' or 'npz'")
    path = Path(path)
    core, named = version_parts(model)
    total = sum(a.size for a in named.values())
    use_npz = arrays == "npz" or (arrays == "auto" and total > INLINE_LIMIT)
    document: dict[str, Any] = {"format": FORMAT, **core, "version": model.version}
    written = [path]
    if use_npz:
        sidecar = path.with_suffix(".npz")
        np.savez(sidecar, **named)  # type: ignore[arg-type]  # numpy's stub types the first keyword
        document["arrays"] = {"file": sidecar.name, "names": sorted(named)}
        written.append(sidecar)
    else:
        document["arrays"] = {
            "inline": {
                name: {"dtype": _dtype_name(a), "shape": list(a.shape), "data": a.ravel().tolist()} for name, a in sorted(named.items())
            }
        }
    document["info"] = _jsonable(model.info)
    # Written beside and renamed over: a running agent reloading the file (a promotion, a retrain)
    # reads the old model or the new one, never half of one.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return written


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in artifact")


def load_model(path: str | Path) -> PredictiveModel:
    """Load and verify a model saved by :func:`save_model`; raise :class:`ArtifactError` with
    one clear line on anything unexpected. Never executes code from the file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such model file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a readable model file ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a leadscore predictive model (format {document.get('format') if isinstance(document, dict) else None!r})")
    version = document.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        known = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise ArtifactError(f"{path}: unknown model format version {version!r} (this leadscore reads version {known}); retrain or upgrade")
    try:
        arrays = _read_arrays(path, document["arrays"])
        kind = document["kind"]
        if kind not in _SCORERS:
            raise ValueError(f"unknown model kind {kind!r}")
        scorer = _SCORERS[kind].from_params(document["scorer"], _prefixed(arrays, "scorer."))
        calibrator = Calibrator.from_params(document["calibrator"], _prefixed(arrays, "calibrator."))
        explain_top = document["explain_top"]
        if not isinstance(explain_top, int) or explain_top < 1:
            raise ValueError("explain_top must be a positive whole number")
        model = PredictiveModel(
            spec=FeatureSpec.from_dict(document["feature_spec"]),
            scorer=scorer,
            calibrator=calibrator,
            explain_top=explain_top,
            info=document.get("info") or {},
        )
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OSError, zipfile.BadZipFile) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ArtifactError(f"{path}: malformed model file ({detail})") from None
    recorded = document.get("version")
    if model.version != recorded:
        raise ArtifactError(
            f"{path}: contents do not match the recorded version {recorded!r} (they hash to {model.version!r}): "
            "the file was edited or corrupted; retrain rather than edit a model"
        )
    return model


def _prefixed(arrays: Mapping[str, NDArray[Any]], prefix: str) -> dict[str, NDArray[Any]]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _read_arrays(path: Path, spec: Any) -> dict[str, NDArray[Any]]:
    if not isinstance(spec, dict):
        raise ValueError("'arrays' must be a table")
    if "inline" in spec:
        out = {}
        for name, item in spec["inline"].items():
            dtype = ARRAY_DTYPES.get(item["dtype"])
            if dtype is None:
                raise ValueError(f"array {name!r} has unsupported dtype {item['dtype']!r}")
            shape = tuple(int(s) for s in item["shape"])
            data = item["data"]
            if not isinstance(data, list) or any(isinstance(v, (list, dict, str)) or v is None for v in data):
                raise ValueError(f"array {name!r} must be a flat list of numbers")
            out[name] = np.asarray(data, dtype=dtype).reshape(shape)
        return out
    file_name = spec.get("file")
    if not isinstance(file_name, str) or Path(file_name).name != file_name or file_name in ("", ".", ".."):
        raise ValueError("the arrays file must be a plain file name next to the model")
    sidecar = path.parent / file_name
    if not sidecar.is_file():
        raise ArtifactError(f"{path}: its arrays file {file_name} is missing")
    with np.load(sidecar, allow_pickle=False) as npz:
        names = sorted(npz.files)
        if names != sorted(spec.get("names", [])):
            raise ValueError(f"{file_name} holds arrays {names}, the model lists {sorted(spec.get('names', []))}")
        out = {}
        for name in names:
            array = npz[name]
            if array.dtype.kind not in "fib" or array.dtype not in ARRAY_DTYPES.values():
                raise ValueError(f"array {name!r} has unsupported dtype {array.dtype}")
            out[name] = array
        return out
