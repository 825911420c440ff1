"""The files of an experiment: ``runs.json`` (schema ``qplane.experiment/1``), ``runs.csv``,
``summary.csv``, ``differences.csv``, ``runs.parquet`` (when pyarrow is installed) and the
plots, from an :class:`~qplane_experiment.results.ExperimentResults`."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from qplane.errors import QPlaneError

from .metrics import METRICS
from .stats import CONFIDENCE

EXPERIMENT_SCHEMA = "qplane.experiment/1"


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def experiment_document(res: Any) -> dict[str, Any]:
    """The ``runs.json`` document of ``res`` (an :class:`~qplane_experiment.results.ExperimentResults`)."""
    return _jsonable({
        "schema": EXPERIMENT_SCHEMA,
        "kind": res.kind,
        "name": res.name,
        "source": res.source,
        "base_seed": res.base_seed,
        "seeds": res.seeds,
        "confidence": CONFIDENCE,
        "grid_axes": [{"path": a.path, "values": a.values} for a in res.grid_axes],
        "arm_axes": [{"path": a.path, "values": a.values} for a in res.arm_axes],
        "points": [{"point": p.index, "grid_point": p.grid_index, "arm_index": p.arm_index, "grid": p.grid,
                    "arm": p.arm, "grid_label": p.grid_label, "arm_label": p.arm_label} for p in res.points],
        "interrupted": res.interrupted,
        "planned_runs": res.planned,
        "wall_s": res.wall_s,
        "provenance": res.provenance,
        "metrics": {k: {"description": d, "unit": u} for k, (d, u) in METRICS.items()},
        "summary": res.summary,
        "differences": res.differences,
        "runs": res.runs,
    })


def write_files(res: Any, out: Path, plots: bool = True) -> list[Path]:
    """Write ``runs.json``, ``runs.csv``, ``summary.csv``, ``differences.csv`` (and
    ``runs.parquet`` when pyarrow is installed, and the plots) into ``out``."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "runs.json"]
        written[0].write_text(json.dumps(experiment_document(res), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        written.append(_write_csv(out / "runs.csv", res.rows()))
        written.append(_write_csv(out / "summary.csv", res.flat_table(res.summary)))
        if res.differences:
            written.append(_write_csv(out / "differences.csv", res.flat_table(res.differences)))
        if importlib.util.find_spec("pyarrow") is not None:
            res.dataframe.to_parquet(out / "runs.parquet", index=False)
            written.append(out / "runs.parquet")
    except OSError as e:
        raise QPlaneError(f"--out {out}: cannot write: {e.strerror or e}") from e
    if plots:
        written += res.plot(out)
    return written


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return path
