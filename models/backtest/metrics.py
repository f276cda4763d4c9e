"""Precision, recall, F1 and mean delay from match counts.

``precision`` is None when nothing was predicted, ``recall`` None when there was nothing to
find, ``f1`` None when either is None (0.0 when both are 0), ``mean_delay_s`` None without a
true positive.

>>> s = score(tp=3, fp=1, fn=1, delays=[10.0, 20.0, 30.0])
>>> s.precision, s.recall, s.f1, s.mean_delay_s
(0.75, 0.75, 0.75, 20.0)
>>> score(tp=0, fp=0, fn=2, delays=[]).precision is None
True
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field


class Scores(BaseModel):
    """Counts and scores of a rule (or of all rules together)."""

    tp: int = Field(ge=0, description="Predictions matched to a ground-truth event.")
    fp: int = Field(ge=0, description="Predictions that matched none.")
    fn: int = Field(ge=0, description="Ground-truth events no prediction matched.")
    precision: float | None = Field(description="tp / (tp + fp); None when nothing was predicted.")
    recall: float | None = Field(description="tp / (tp + fn); None when there was nothing to find.")
    f1: float | None = Field(description="Harmonic mean of precision and recall; None when either is.")
    mean_delay_s: float | None = Field(description="Mean of firing time - event start over true positives.")


class _Kind(BaseModel):
    rule: str = Field(description="Rule kind.")


class RuleScores(Scores, _Kind):
    """Scores of one rule instance, with its kind (first when serialised)."""


def score(tp: int, fp: int, fn: int, delays: Sequence[float]) -> Scores:
    """Scores from counts and the delays of the true positives."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delay = round(sum(delays) / len(delays), 3) if delays else None
    return Scores(tp=tp, fp=fp, fn=fn, precision=_r(precision), recall=_r(recall), f1=_r(f1), mean_delay_s=delay)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
