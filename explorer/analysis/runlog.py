"""A training run's curves as the Diagnostics view draws them: per-step rows where the run kept them, per-epoch
rows always, and what the negative ELBO's value means.

Two sources, both optional:
- the checkpoint's ``history``: one row per epoch (with "epoch"); rows without "epoch" but with "step" are
  per-step (logged every ``log_every`` steps);
- the run folder that ``python -m train --out PATH`` writes beside the checkpoint, ``<stem>_run/metrics.csv``:
  its rows with a "step" column are read the same way (a file that cannot be read is skipped, with a note).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

METRICS = ("nelbo", "kl", "mse")
MAX_CSV_BYTES = 64 * 2**20  # a metrics file larger than this is not a run's log


@dataclass
class Curves:
    """x values ("step" where every row has one, else "epoch") and per split and metric their y values."""
    x_name: str
    epoch_x: list[float] = field(default_factory=list)
    epoch: dict[str, list[float | None]] = field(default_factory=dict)  # "train_nelbo" -> per epoch row
    step_x: list[float] = field(default_factory=list)
    step: dict[str, list[float | None]] = field(default_factory=dict)  # "train_nelbo" -> per logged step
    notes: list[str] = field(default_factory=list)


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _value(row: dict, split: str, metric: str) -> float | None:
    """``train_nelbo``; per-step logs may name the training value without its split (``nelbo``)."""
    v = _number(row.get(f"{split}_{metric}"))
    if v is None and split == "train":
        v = _number(row.get(metric))
    return v


def read_metrics_csv(checkpoint: Path) -> tuple[list[dict], str | None]:
    """Rows of ``<stem>_run/metrics.csv`` beside a checkpoint (none when there is no such file), and a note
    when the file is there but cannot be read."""
    path = Path(checkpoint).parent / f"{Path(checkpoint).stem}_run" / "metrics.csv"
    if not path.is_file():
        return [], None
    try:
        if path.stat().st_size > MAX_CSV_BYTES:
            return [], f"{path}: over {MAX_CSV_BYTES // 2**20} MB, not read"
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f)), None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return [], f"{path}: cannot be read ({e})"


def epoch_rows(history: list[dict]) -> list[dict]:
    """The history's one row per epoch (python -m train also keeps per-step rows there, without "epoch")."""
    return [h for h in history if isinstance(h, dict) and "epoch" in h]


def curves(history: list[dict], extra_rows: list[dict] = ()) -> Curves:
    """Split the checkpoint's history and a run folder's rows into per-epoch and per-step series. Per-step
    rows come from the history where it has them, else from the run folder's metrics.csv."""
    epochs = epoch_rows(history)
    steps = [h for h in history if isinstance(h, dict) and "epoch" not in h and _number(h.get("step")) is not None]
    if not steps:
        steps = [r for r in extra_rows if _number(r.get("step")) is not None
                 and any(_value(r, "train", m) is not None for m in METRICS)
                 and _number(r.get("val_nelbo")) is None]  # a run folder's epoch rows are already in the history
    steps.sort(key=lambda r: _number(r["step"]))
    by_step = all(_number(h.get("step")) is not None for h in epochs)  # per-step rows need a step axis
    c = Curves("step" if by_step else "epoch")
    c.epoch_x = [_number(h.get("step")) if by_step else (_number(h.get("epoch")) or i + 1) for i, h in enumerate(epochs)]
    for split in ("train", "val"):
        for m in METRICS:
            ys = [_value(h, split, m) for h in epochs]
            if any(y is not None for y in ys):
                c.epoch[f"{split}_{m}"] = ys
    if by_step and steps:
        c.step_x = [_number(r["step"]) for r in steps]
        for m in METRICS:
            ys = [_value(r, "train", m) for r in steps]
            if any(y is not None for y in ys):
                c.step[f"train_{m}"] = ys
    return c


def nelbo_floor(sigma: float, pixels: int) -> float:
    """The part of a Gaussian likelihood's negative log-density that no reconstruction removes:
    P·(log σ + ½ log 2π) nats (the normalising constant of N(x; x̂, σ²) over P pixel values; see
    train/losses.py). Below zero for σ < 1/√(2π) ≈ 0.40, which makes a good model's negative ELBO negative."""
    return pixels * (math.log(sigma) + 0.5 * math.log(2 * math.pi))


def nelbo_sign_note(sigma: float | None, pixels: int) -> str:
    """One line on what the plotted negative ELBO's value and sign mean."""
    if sigma is None or not sigma > 0:
        return ("Negative ELBO: reconstruction negative log-likelihood plus KL, in nats per image; lower is better. "
                "Pixels are continuous, so it is a density's value, and it can be below zero.")
    floor = nelbo_floor(sigma, pixels)
    return (f"Negative ELBO: reconstruction negative log-likelihood plus KL, in nats per image; lower is better. "
            f"Pixels are continuous, so it is a density's value, not a probability's: with a Gaussian likelihood of "
            f"σ = {sigma:g} over {pixels:,} pixel values, {pixels:,} × (log σ + ½ log 2π) = {floor:,.0f} nats are in it "
            f"whatever the reconstruction, so "
            + ("a good model's value is below zero. " if floor < 0 else "it stays above zero. ")
            + "Only runs with the same σ and image size compare.")
