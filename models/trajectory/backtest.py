"""The trajectory backtest: simulated trips with known anomalies, sent as gateways send them,
through the telemetry gate and the trajectory rules; the alerts they open scored against truth.

The run is the live pipeline on a simulated clock: reports are grouped into uploads by when they
reach the console (:attr:`~telemetry.simulator.Simulation.arrivals`: live, a buffered log, a
back-dated report, a stale upload), each upload passes the gate with the clock at its arrival,
the accepted fixes feed the engine, and the engine ticks every ``tick_s`` of that clock. An alert
opens for a warning key whose first event is active (the alert service opens none for a warning
that has already ended). Scores per rule kind: true and false positives, misses, precision and
recall; the gate's: how many of the reports a correct gate refuses it refused, and how many good
ones it refused.

>>> from zhizhi.gis.district import DistrictSpec, generate_district
>>> from zhizhi.telemetry.simulator import simulate
>>> d = generate_district(DistrictSpec(seed=5, grids=64, towns=3, villages_per_town=2, cameras=0))
>>> sim = simulate(d.roads, d.zones, seed=1, anomalies=("speeding",), normal=1, unregistered=False)
>>> score = run_backtest(sim, TrajectoryPlaces.from_layers(d.zones, d.roads))
>>> score.precision, score.recall, score.gate.bad, score.gate.good_refused
(1.0, 1.0, 0, 0)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict

from pydantic import BaseModel, Field

from zhizhi.models.trajectory.config import TrajectoryModelConfig, load_model
from zhizhi.models.trajectory.engine import TrajectoryEngine
from zhizhi.models.trajectory.places import TrajectoryPlaces
from zhizhi.models.warning.record import WarningEvent
from zhizhi.telemetry.gate import TelemetryGate
from zhizhi.telemetry.simulator import Simulation

#: ``make_gate(clock)``: the gate a run uses, on the run's clock.
MakeGate = Callable[[Callable[[], float]], TelemetryGate]


class RuleScore(BaseModel):
    """One rule kind: alerts expected, raised, right, wrong and missed."""

    rule: str
    expected: int = Field(ge=0)
    raised: int = Field(ge=0)
    tp: int = Field(ge=0)
    fp: int = Field(ge=0)
    fn: int = Field(ge=0)
    precision: float = Field(ge=0, le=1, description="1.0 when nothing was raised.")
    recall: float = Field(ge=0, le=1, description="1.0 when nothing was expected.")


class GateScore(BaseModel):
    """The gate over the run: counts, and the reports a correct gate refuses (``bad``)."""

    received: int = Field(ge=0)
    accepted: int = Field(ge=0)
    rejected: dict[str, int] = Field(default_factory=dict)
    bad: int = Field(ge=0, description="Reports a correct gate refuses (late, too old, ...).")
    bad_refused: int = Field(ge=0)
    good_refused: int = Field(ge=0, description="Good reports refused.")


class TrajectoryScore(BaseModel):
    """The result of one trajectory backtest."""

    model: str
    vehicles: int = Field(ge=0)
    reports: int = Field(ge=0)
    uploads: int = Field(ge=0)
    rules: list[RuleScore]
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    f1: float = Field(ge=0, le=1)
    missed: list[str] = Field(default_factory=list, description="rule:vehicle expected, not raised.")
    false: list[str] = Field(default_factory=list, description="rule:vehicle raised, not expected.")
    gate: GateScore


def uploads(sim: Simulation, every_s: float = 10.0) -> list[tuple[float, list[int]]]:
    """Reports grouped by arrival: ``(sent_ts, indexes)`` per ``every_s`` window, sent at its end;
    inside one, in arrival order."""
    if not sim.fixes:
        return []
    order = sorted(range(len(sim.fixes)), key=lambda i: (sim.arrival(i), i))
    first = sim.arrival(order[0])
    out: list[tuple[float, list[int]]] = []
    for i in order:
        edge = first + (int((sim.arrival(i) - first) // every_s) + 1) * every_s
        if not out or out[-1][0] != edge:
            out.append((edge, []))
        out[-1][1].append(i)
    return out


def alerts_opened(events: Iterable[WarningEvent]) -> set[tuple[str, str]]:
    """``(rule, vehicle_id)`` of each warning key whose first event is active (opens an alert)."""
    first: dict[str, WarningEvent] = {}
    for e in events:
        first.setdefault(e.key, e)
    return {(e.rule, str(e.details.get("vehicle_id"))) for e in first.values() if e.active}


def run_backtest(
    sim: Simulation,
    places: TrajectoryPlaces,
    model: TrajectoryModelConfig | None = None,
    *,
    make_gate: MakeGate | None = None,
    every_s: float = 10.0,
    tick_s: float = 30.0,
) -> TrajectoryScore:
    """Upload ``sim``'s reports through a gate into the rules on the run's clock; score the alerts."""
    engine = TrajectoryEngine(model or load_model(), places, sim.lookup)
    now = [sim.start_ts]
    gate = (make_gate or (lambda clock: TelemetryGate(clock=clock)))(lambda: now[0])
    batches = uploads(sim, every_s)
    events: list[WarningEvent] = []
    refused: set[int] = set()
    next_tick = batches[0][0] + tick_s if batches else 0.0
    for sent, indexes in batches:
        while next_tick <= sent:
            events.extend(engine.tick(next_tick))
            next_tick += tick_s
        now[0] = sent
        result = gate.check([asdict(sim.fixes[i]) for i in indexes])
        events.extend(engine.feed(result.fixes))
        taken = {(f.vehicle_id, f.ts) for f in result.fixes}
        refused.update(i for i in indexes if (sim.fixes[i].vehicle_id, sim.fixes[i].ts) not in taken)
    if batches:
        events.extend(engine.tick(batches[-1][0]))
    return _score(sim, engine.config.label, len(batches), alerts_opened(events), gate.counts(), refused)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def _score(
    sim: Simulation, label: str, n_uploads: int, raised: set[tuple[str, str]],
    counts: dict[str, int], refused: set[int],
) -> TrajectoryScore:
    expected = sim.expected
    rules = []
    for rule in sorted({r for r, _ in expected | raised}):
        exp = {a for a in expected if a[0] == rule}
        got = {a for a in raised if a[0] == rule}
        tp = len(exp & got)
        rules.append(RuleScore(rule=rule, expected=len(exp), raised=len(got), tp=tp, fp=len(got - exp),
                               fn=len(exp - got), precision=_ratio(tp, len(got)), recall=_ratio(tp, len(exp))))
    tp = len(expected & raised)
    precision, recall = _ratio(tp, len(raised)), _ratio(tp, len(expected))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    bad = set(sim.refuse)
    skip = {"received", "accepted"}
    gate = GateScore(
        received=counts["received"], accepted=counts["accepted"],
        rejected={k: v for k, v in counts.items() if v and k not in skip and not k.startswith("drone_")},
        bad=len(bad), bad_refused=len(bad & refused), good_refused=len(refused - bad),
    )
    return TrajectoryScore(
        model=label, vehicles=len(sim.roles), reports=len(sim.fixes), uploads=n_uploads, rules=rules,
        precision=round(precision, 4), recall=round(recall, 4), f1=round(f1, 4),
        missed=sorted(f"{r}:{v}" for r, v in expected - raised),
        false=sorted(f"{r}:{v}" for r, v in raised - expected), gate=gate,
    )


def simulated_backtest(
    model: TrajectoryModelConfig | None = None, *, seed: int = 3, grids: int = 100, normal: int = 6,
    cases: bool = True,
) -> TrajectoryScore:
    """A trajectory model (the shipped one by default) on a generated district's trips with every
    anomaly and, with ``cases``, every held-back case (``zhizhi backtest-telemetry``)."""
    from zhizhi.gis.district import DistrictSpec, generate_district
    from zhizhi.telemetry.simulator import CASES, simulate

    district = generate_district(DistrictSpec(seed=seed, grids=grids, towns=3, villages_per_town=2, cameras=0))
    sim = simulate(district.roads, district.zones, seed=seed, normal=normal, cases=CASES if cases else ())
    return run_backtest(sim, TrajectoryPlaces.from_layers(district.zones, district.roads), model)


def main(argv: Sequence[str] | None = None) -> TrajectoryScore:
    """``python -m zhizhi.models.trajectory.backtest``: the shipped rules on a generated district
    with every anomaly and held-back case; prints the score as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--grids", type=int, default=100)
    parser.add_argument("--normal", type=int, default=6)
    parser.add_argument("--no-cases", action="store_true", help="Leave the held-back cases out.")
    args = parser.parse_args(argv)
    score = simulated_backtest(seed=args.seed, grids=args.grids, normal=args.normal, cases=not args.no_cases)
    print(json.dumps(score.model_dump(), indent=2, ensure_ascii=False))
    return score


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["GateScore", "RuleScore", "TrajectoryScore", "alerts_opened", "main", "run_backtest", "uploads"]
