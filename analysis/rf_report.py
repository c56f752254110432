"""``qtlgraph rf`` as a library call: probe a model, write spans (JSON, Markdown) and figures.

Output directory:
  rf.json       spans per model version and method, the analytic receptive field, the
                report's figure, the options and package versions;
  rf.md         the same as a table;
  profiles.npz  the offsets, mean and max effect profiles behind every figure;
  rf_<method>.png  linear and log-scale profiles, untrained and trained side by side.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.receptive_field import ProbeResult, gradient_probe, perturbation_probe, random_onehot
from analysis.rf_plots import plot_probes
from analysis.rf_targets import REPORT, ProbeTarget, load_target, run_target, untrained_twin
from qtlgraph.errors import InputError

METHODS = ("perturbation", "gradient")


def _versions(model: str, trained: str | Path | None, seed: int) -> dict[str, ProbeTarget]:
    base = load_target(model, seed)
    if trained is None:
        return {("trained" if base.trained else "untrained"): base}
    if base.trained:
        raise InputError(f"--model {model}: with --trained give the architecture (unet:A.., bin-encoder), not a run")
    done = run_target(trained, seed)
    if done.family != base.family:
        raise InputError(f"--trained {trained}: a {done.family} run, but --model {model} is a {base.family}")
    return {"untrained": untrained_twin(done, seed), "trained": done}


def sensitivity(result: ProbeResult, fraction: float = 0.01) -> float:
    """Share of the measured span whose mean effect is at least ``fraction`` of its peak."""
    if result.span == 0:
        return 0.0
    inside = (result.offsets >= result.start) & (result.offsets <= result.end)
    prof = result.profile[inside]
    return float(np.mean(prof >= fraction * prof.max()))


def _summary(result: ProbeResult) -> dict[str, Any]:
    return {"span_bp": result.span, "start": result.start, "end": result.end,
            "effective_width_bp": result.effective_width, "sensitive_fraction": sensitivity(result),
            "max_effect": float(result.peak.max(initial=0.0)), "threshold": result.threshold,
            "position": result.position, "n_inputs": result.n_inputs}


def _probe(target: ProbeTarget, method: str, X, position: str | int, seed: int, progress: bool) -> ProbeResult:
    if method == "perturbation":
        return perturbation_probe(target.model, X, position, seed=seed, progress=progress)
    return gradient_probe(target.model, X, position, progress=progress)


def _markdown(summary: dict[str, Any]) -> str:
    analytic = summary["analytic"]
    size = (f"{analytic['min_size']:,}-{analytic['max_size']:,}" if analytic and "min_size" in analytic
            else (f"{analytic['size']:,}" if analytic else "n/a"))
    lines = [f"Receptive field of `{summary['model']}` ({summary['n_inputs']} random inputs of "
             f"{summary['input_length']:,} bp; report: {summary['report']['source']}).", "",
             "| version | method | span (bp) | effective width (bp) | sensitive fraction | analytic (bp) |",
             "|---|---|---|---|---|---|"]
    for version, methods in summary["probes"].items():
        for method, s in methods.items():
            lines.append(f"| {version} | {method} | {s['span_bp']:,} | {s['effective_width_bp']:,} | "
                         f"{s['sensitive_fraction']:.2f} | {size} |")
    return "\n".join(lines) + "\n"


def run_rf(model: str, out: str | Path, *, trained: str | Path | None = None, method: str = "both",
           n_inputs: int = 16, position: str | int = "center", seed: int = 0, force: bool = False,
           progress: bool = True) -> dict[str, Any]:
    """Probe ``model`` (and its trained version) and write the outputs to ``out``.

    Args:
        model: ``unet:A``..``unet:D``, ``bin-encoder``, ``enformer`` or a run directory.
        out: output directory (refused when not empty unless ``force``).
        trained: a run directory of the same architecture to compare with its untrained twin.
        method: ``perturbation``, ``gradient`` or ``both``.
        n_inputs: random one-hot inputs per probe.
        position: ``center``, ``edge`` or an index (mutated base / probed output).
        seed: seeds the inputs, the substitutions and untrained weights.
        force: replace a non-empty ``out``.
        progress: tqdm bars.

    Returns:
        The summary written to ``rf.json``.
    """
    from qtlgraph.outputs import check_output_dir, staged_dir
    from qtlgraph.runtime import versions, write_json

    if method not in (*METHODS, "both"):
        raise InputError(f"--method {method}: expected perturbation, gradient or both")
    if n_inputs < 1:
        raise InputError(f"--n-inputs {n_inputs}: expected >= 1")
    check_output_dir(out, force)
    targets = _versions(model, trained, seed)
    first = next(iter(targets.values()))
    X = random_onehot(n_inputs, first.length, seed)
    methods = METHODS if method == "both" else (method,)
    results = {m: {v: _probe(t, m, X, position, seed, progress) for v, t in targets.items()} for m in methods}
    summary = {"model": model, "trained_run": str(trained) if trained else None, "family": first.family,
               "input_length": first.length, "n_inputs": n_inputs, "position": position, "seed": seed,
               "analytic": first.analytic if first.family != "enformer" else
               {"size": first.length, "note": "attention: every output bin can see the whole input"},
               "report": REPORT[first.family],
               "probes": {v: {m: _summary(results[m][v]) for m in methods} for v in targets},
               "configs": {v: t.config for v, t in targets.items()}, "versions": versions()}
    with staged_dir(out, force) as tmp:
        write_json(tmp / "rf.json", summary)
        (tmp / "rf.md").write_text(_markdown(summary))
        arrays = {f"{v}_{m}_{k}": getattr(r, k) for m, rs in results.items() for v, r in rs.items()
                  for k in ("offsets", "profile", "peak")}
        np.savez_compressed(tmp / "profiles.npz", **arrays)
        for m, rs in results.items():
            plot_probes(rs, tmp / f"rf_{m}.png", f"{m} receptive field: {model}", first.analytic)
    return summary
