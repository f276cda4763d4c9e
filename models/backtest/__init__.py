"""Backtesting warning models on recorded clips with ground-truth events (``zhizhi backtest``).

A dataset is a folder of clips, each with its camera config and labelled events
(:mod:`.dataset`); observations come from the simulator's truth, pre-computed tracks or the
detector, cached per clip and weights (:mod:`.frames`, :mod:`.cache`); predicted alerts are
matched to events (:mod:`.matching`) and scored per rule (:mod:`.metrics`); :mod:`.run` ties it
together, :mod:`.sweep` runs a model over parameter grids and :mod:`.plots` draws the results.
See ``docs/backtest.md``.
"""

from zhizhi.models.backtest.dataset import BacktestError
from zhizhi.models.backtest.run import BacktestResult, run_backtest
from zhizhi.models.backtest.sweep import SweepResult, run_sweep

__all__ = ["BacktestError", "BacktestResult", "SweepResult", "run_backtest", "run_sweep"]
