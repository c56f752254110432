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

from qtlgraph.analysis.receptive_field import (
    ProbeResult,
    gradient_probe,
    perturbation_probe,
    random_onehot,
)
from qtlgraph.analysis.rf_plots import plot_probes
from qtlgraph.analysis.rf_targets import (
    REPORT,
    ProbeTarget,
    load_target,
    run_target,
    untrained_twin,
)
from qtlgraph.errors import InputError

METHODS = ("perturbation", "gradient")


def _versions(model: str, trained: str | Path | None, seed: int) -> dict[str, ProbeTarget]:
    base = load_target(model, seed)
    if trained is None:
        return {("trained" if base.trained else "untrained"): base}
    if base.trained:
        raise InputError(
            f"--model {model}: with --trained give the architecture (unet:A.., bin-encoder), "
            "not a run"
        )
    done = run_target(trained, seed)
    if done.family != base.family:
        raise InputError(
            f"--trained {trained}: a {done.family} run, but --model {model} is a {base.family}"
        )
    return {"untrained": untrained_twin(done, seed), "trained": done}


def sensitivity(result: ProbeResult, fraction: float = 0.01) -> float:
    """Share of the measured span whose mean effect is at least ``fraction`` of its peak."""
    if result.span == 0:
        return 0.0
    inside = (result.offsets >= result.start) & (result.offsets <= result.end)
    prof = result.profile[inside]
    return float(np.mean(prof >= fraction * prof.max()))


def _summary(result: ProbeResult) -> dict[str, Any]:
    return {
        "span_bp": result.span,
        "start": result.start,
        "end": result.end,
        "effective_width_bp": result.effective_width,
        "sensitive_fraction": sensitivity(result),
        "max_effect": float(result.peak.max(initial=0.0)),
        "threshold": result.threshold,
        "position": result.position,
        "n_inputs": result.n_inputs,
    }


def _probe(
    target: ProbeTarget, method: str, X, position: str | int, seed: int, progress: bool
) -> ProbeResult:
    if method == "perturbation":
        return perturbation_probe(target.model, X, position, seed=seed, progress=progress)
    return gradient_probe(target.model, X, position, progress=progress)


def _markdown(summary: dict[str, Any]) -> str:
    analytic = summary["analytic"]
    size = (
        f"{analytic['min_size']:,}-{analytic['max_size']:,}"
        if analytic and "min_size" in analytic
        else (f"{analytic['size']:,}" if analytic else "n/a")
    )
    lines = [
        f"Receptive field of `{summary['model']}` ({summary['n_inputs']} random inputs of "
        f"{summary['input_length']:,} bp; report: {summary['report']['source']}).",
        "",
        (
            "| version | method | span (bp) | effective width (bp) | sensitive fraction "
            "| analytic (bp) |"
        ),
        "|---|---|---|---|---|---|",
    ]
    for version, methods in summary["probes"].items():
        for method, s in methods.items():
            lines.append(
                f"| {version} | {method} | {s['span_bp']:,} | {s['effective_width_bp']:,} | "
                f"{s['sensitive_fraction']:.2f} | {size} |"
            )
    return "\n".join(lines) + "\n"


def run_rf(
    model: str,
    out: str | Path,
    *,
    trained: str | Path | None = None,
    method: str = "both",
    n_inputs: int = 16,
    position: str | int = "center",
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
    **graph,
) -> dict[str, Any]:
    """Probe ``model`` (and its trained version) and write the outputs to ``out``.

    A ``qtlgraph train`` run directory (GNN or local baseline) goes to :func:`run_graph_rf`
    (``n_inputs`` source bins; ``graph`` holds its ``mode`` and ``delta``).

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
        **graph: options for :func:`run_graph_rf` when ``model`` is a GNN run directory
            (``mode``, ``delta``).

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
    from qtlgraph.analysis.rf_targets import is_graph_run

    if is_graph_run(model) or (trained is not None and is_graph_run(trained)):
        if trained is not None:
            raise InputError(
                f"--trained {trained}: graph runs are probed on their own: --model RUN_DIR"
            )
        return run_graph_rf(
            model, out, n_sources=n_inputs, seed=seed, force=force, progress=progress, **graph
        )
    targets = _versions(model, trained, seed)
    first = next(iter(targets.values()))
    X = random_onehot(n_inputs, first.length, seed)
    methods = METHODS if method == "both" else (method,)
    results = {
        m: {v: _probe(t, m, X, position, seed, progress) for v, t in targets.items()}
        for m in methods
    }
    summary = {
        "model": model,
        "trained_run": str(trained) if trained else None,
        "family": first.family,
        "input_length": first.length,
        "n_inputs": n_inputs,
        "position": position,
        "seed": seed,
        "analytic": first.analytic
        if first.family != "enformer"
        else {"size": first.length, "note": "attention: every output bin can see the whole input"},
        "report": REPORT[first.family],
        "probes": {v: {m: _summary(results[m][v]) for m in methods} for v in targets},
        "configs": {v: t.config for v, t in targets.items()},
        "versions": versions(),
    }
    with staged_dir(out, force) as tmp:
        write_json(tmp / "rf.json", summary)
        (tmp / "rf.md").write_text(_markdown(summary))
        arrays = {
            f"{v}_{m}_{k}": getattr(r, k)
            for m, rs in results.items()
            for v, r in rs.items()
            for k in ("offsets", "profile", "peak")
        }
        np.savez_compressed(tmp / "profiles.npz", **arrays)
        for m, rs in results.items():
            plot_probes(rs, tmp / f"rf_{m}.png", f"{m} receptive field: {model}", first.analytic)
    return summary


def reach_spans(
    result, analytic, layers: int, unet: str = "unet:A", enformer_length: int | None = None
) -> dict:
    """One-sided reach (bp) of the U-Net, Enformer and the GNN, for the "reach in bp" figure.

    U-Net: the larger side of the analytic receptive field of ``unet``'s default config.
    Enformer: half the probe's input length (every output bin sees the whole input, so a
    centred output reaches half of it each way). GNN: the analytic ``layers``-hop reach of
    the whole graph (largest and quantile over nodes with an edge) and the measured reach
    (largest and quantile of the affected targets' distances).
    """
    from qtlgraph.analysis.enformer_probe import ENFORMER_INPUT
    from qtlgraph.analysis.rf_targets import default_unet_analytic

    u = default_unet_analytic(unet)
    length = ENFORMER_INPUT if enformer_length is None else enformer_length
    spans = {
        "unet": {
            "label": f"U-Net {unet.split(':')[1]} (analytic)",
            "reach_bp": max(-u["start"], u["end"] - 1),
            "source": (
                f"analytic receptive field of the default {unet} config ({u['start']}..{u['end']})"
            ),
        },
        "enformer": {
            "label": "Enformer (input / 2)",
            "reach_bp": length // 2,
            "source": f"half the probe input length ({length:,} bp)",
        },
    }
    if layers:
        spans["gnn_analytic"] = {
            "label": f"GNN edges, {layers} hops",
            "reach_bp": float(analytic.max_bp[layers - 1]),
            "quantile_bp": float(analytic.quantile_bp[layers - 1]),
            "source": f"largest / {analytic.quantile:.0%} quantile over nodes with an edge",
        }
    spans["gnn_measured"] = {
        "label": "GNN measured",
        "reach_bp": result.max_distance,
        "quantile_bp": result.quantile_distance,
        "source": f"largest / {result.quantile:.0%} quantile distance of affected targets",
    }
    return spans


def _reach_summary(result) -> dict[str, Any]:
    local = np.isfinite(result.distance)
    return {
        "max_distance_bp": result.max_distance,
        "quantile_distance_bp": result.quantile_distance,
        "quantile": result.quantile,
        "threshold": result.threshold,
        "n_targets": int(local.sum()),
        "mean_targets_per_source": float(result.n_affected.mean()),
        "median_source_reach_bp": float(np.median(result.source_reach)),
        "max_hops": int(result.hops.max(initial=0)),
        "n_beyond_max_hops": int((result.hops < 0).sum()),
        "n_other_chrom": result.n_other_chrom,
        "n_other_cell_type": result.n_other_cell_type,
        "max_effect": float(result.effect.max(initial=0.0)),
        "max_self_effect": float(result.self_effect.max(initial=0.0)),
    }


def _graph_markdown(summary: dict[str, Any]) -> str:
    r, lines = (
        summary["reach"],
        [
            f"Graph reach of `{summary['model']}` ({summary['layers']} message-passing "
            f"layers, {summary['n_sources']} perturbed source bins, mode {summary['mode']}).",
            "",
            "| model | reach (bp, one side) | quantile (bp) | how |",
            "|---|---|---|---|",
        ],
    )
    for s in summary["compare"].values():
        q = f"{s['quantile_bp']:,.0f}" if s.get("quantile_bp") is not None else ""
        lines.append(f"| {s['label']} | {s['reach_bp']:,.0f} | {q} | {s['source']} |")
    lines += [
        "",
        f"Affected targets: {r['n_targets']:,} ({r['mean_targets_per_source']:.1f} per source, "
        f"up to {r['max_hops']} hops); on other chromosomes: {r['n_other_chrom']}, "
        f"other cell types: {r['n_other_cell_type']}.",
    ]
    return "\n".join(lines) + "\n"


def run_graph_rf(
    run_dir: str | Path,
    out: str | Path,
    *,
    n_sources: int = 16,
    seed: int = 0,
    mode: str = "direction",
    delta: float = 1.0,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """``qtlgraph rf --model GNN_RUN``: measure the graph reach, compare with the sequence models.

    Writes ``rf.json``, ``rf.md``, ``reach.npz`` (every affected pair) and ``rf_reach.png``
    (effect against distance) and ``rf_compare.png`` (reach in bp of U-Net, Enformer, GNN).
    """
    from qtlgraph.analysis.graph_reach import analytic_reach, graph_reach, select_sources
    from qtlgraph.analysis.rf_targets import REPORT, graph_run_target
    from qtlgraph.outputs import check_output_dir
    from qtlgraph.runtime import versions

    if n_sources < 1:
        raise InputError(f"--n-inputs {n_sources}: expected >= 1 source bins")
    check_output_dir(out, force)
    t = graph_run_target(run_dir)
    d = t.data
    sources = select_sources(d.edge_index, int(d.num_nodes), n_sources, seed)
    result = graph_reach(
        t.model,
        d.x,
        d.edge_index,
        sources,
        bin_start=t.bin_start,
        chrom=t.chrom,
        cell_type=d.cell_type.numpy(),
        bin_size=t.bin_size,
        edge_attr=d.edge_attr,
        mode=mode,
        delta=delta,
        batch_size=max(1, min(len(sources), 2_000_000 // int(d.num_nodes))),
        prepare_graph=t.prepare_graph,
        seed=seed,
        progress=progress,
    )
    analytic = analytic_reach(d.edge_index, t.bin_start, t.chrom, max(t.layers, 1))
    summary = {
        "model": str(run_dir),
        "trained_run": str(run_dir),
        "family": "gnn",
        "run_model": t.config.get("model"),
        "layers": t.layers,
        "bin_size": t.bin_size,
        "n_sources": len(sources),
        "n_inputs": len(sources),
        "seed": seed,
        "mode": mode,
        "delta": delta,
        "graph": {"n_nodes": int(d.num_nodes), "n_edges": int(d.edge_index.shape[1])},
        "analytic": {k: _jsonable(v) for k, v in analytic._asdict().items() if k != "per_node"},
        "reach": _reach_summary(result),
        "compare": reach_spans(result, analytic, t.layers),
        "report": REPORT["gnn"],
        "versions": versions(),
    }
    _write_graph_rf(out, force, summary, result, Path(run_dir).name)
    return summary


def _jsonable(v):
    return v.tolist() if isinstance(v, np.ndarray) else v


def _write_graph_rf(out, force: bool, summary: dict[str, Any], result, name: str) -> None:
    from qtlgraph.analysis.rf_plots import plot_reach, plot_reach_compare
    from qtlgraph.outputs import staged_dir
    from qtlgraph.runtime import write_json

    with staged_dir(out, force) as tmp:
        write_json(tmp / "rf.json", summary)
        (tmp / "rf.md").write_text(_graph_markdown(summary))
        np.savez_compressed(
            tmp / "reach.npz",
            sources=result.sources,
            source=result.sources[result.pair_source],
            target=result.target,
            distance=result.distance,
            hops=result.hops,
            effect=result.effect,
        )
        plot_reach(
            result, tmp / "rf_reach.png", f"graph reach: {name} ({summary['layers']} layers)"
        )
        ok = np.isfinite(result.distance)
        plot_reach_compare(
            summary["compare"],
            result.distance[ok],
            tmp / "rf_compare.png",
            f"reach in bp: sequence models vs the graph ({name})",
        )
