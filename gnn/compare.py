"""Side-by-side metrics of several runs (GNN, local baselines, U-Nets) on the same bins, and
the paired differences that make a graph claim honest.

Every graph model (``model`` starting with ``gnn`` or ``distal``) is compared, by a paired
bootstrap over the shared test bins, with the baselines that share its dataset, cell types,
marks and held-out cell type: ``local-stats`` (the local model given every node-level fact
of the graph), plain ``local``, and its edge-shuffled control (the same options with
``shuffle_edges`` true). Runs scored on different targets or made from different datasets
are refused, with one line naming both runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from qtlgraph.errors import InputError

GRAPH_MODELS = ("gnn", "distal")
#: contrast -> heading of its section in ``comparison.md``
CONTRASTS = {
    "local-stats": "GNN minus local-stats (the graph's node-level facts, no message passing)",
    "local": "GNN minus local (paired bootstrap)",
    "shuffled": "GNN minus its edge-shuffled control (same degrees, random wiring)",
}
PAIRED_COLUMNS = [
    "run",
    "baseline",
    "cell_type",
    "mark",
    "stratum",
    "n",
    "d_pearson",
    "d_pearson_low",
    "d_pearson_high",
]


class Run(NamedTuple):
    """One finished run: its name, model label, ``config.json``, ``results.json`` and the
    bin predictions (``cell_type, mark, bin, pred, target[, in_degree]``).
    """

    name: str
    model: str
    config: dict
    results: dict
    frame: object


class Comparison(NamedTuple):
    """``table``: one row per cell type, mark, stratum and run; ``paired``: one row per graph
    run, baseline, cell type, mark and stratum (``contrast`` names the baseline's kind).
    """

    table: object
    paired: object


def load_run(path: str | Path) -> Run:
    """A finished run directory (``bin_predictions.parquet``, ``results.json``)."""
    import pandas as pd

    from qtlgraph.runtime import read_json

    path = Path(path)
    preds = path / "bin_predictions.parquet"
    if not preds.is_file():
        raise InputError(f"{path}: no bin_predictions.parquet (not a finished run)")
    from qtlgraph import runs

    if (path / runs.RUN).is_file() and not runs.is_finished(path):  # resumed, then stopped
        runs.require_finished(path)
    res = read_json(path / "results.json") if (path / "results.json").is_file() else {}
    config = read_json(path / "config.json") if (path / "config.json").is_file() else {}
    name = res.get("run", path.name)
    model = res.get("model", config.get("model", "?"))
    from qtlgraph.inputs import read_with

    return Run(name, str(model), config, res, read_with(preds, "bin predictions", pd.read_parquet))


def run_target(run: Run) -> str | None:
    """What the run was scored on (``results.json`` or ``config.json`` ``target``); None when
    it records none (unknown).
    """
    return run.results.get("target", run.config.get("target"))


def run_dataset(run: Run) -> dict | None:
    """The dataset a run was made from: manifest path and, where known, the genome bins
    (chromosomes in order, lengths, bin size). From the ``config.json`` fingerprint when it
    has one (:mod:`qtlgraph.runs`), else from the manifest path it names. None when unknown.
    """
    fp = run.config.get("fingerprint") or {}
    if (fp.get("dataset") or {}).get("manifest"):
        return {"manifest": str(fp["dataset"]["manifest"]), **(fp.get("genome") or {})}
    path = (run.config.get("data") or {}).get("dataset") or run.config.get("dataset")
    if not path:
        return None
    out = {"manifest": str(Path(path).absolute())}
    try:
        from qtlgraph.manifest import load_dataset

        genome = load_dataset(path, missing="nan").genome
        out.update(chroms=list(genome.chroms), lengths=[int(n) for n in genome.lengths])
    except (InputError, OSError):
        pass  # the manifest is gone: its path is all that can be compared
    return out


def check_comparable(runs: list[Run]) -> None:
    """Refuse runs scored on different targets, or mixing a known target with an unknown
    one, and runs from different datasets (manifest, chromosome order, lengths, bin size).
    """
    first = next((r for r in runs if run_target(r) is not None), None)
    for r in runs:
        t = run_target(r)
        if first is not None and t != run_target(first):
            told = "records no target (unknown)" if t is None else f"target {t!r}"
            raise InputError(
                f"compare: runs {first.name} (target {run_target(first)!r}) and {r.name} "
                f"({told}) are not scored on the same target"
            )
    known = [(r, run_dataset(r)) for r in runs]
    ref = next(((r, d) for r, d in known if d is not None), None)
    for r, d in known:
        if ref is None:
            break
        if d is None:
            raise InputError(
                f"compare: run {ref[0].name} was made from {ref[1]['manifest']} but run "
                f"{r.name} records no dataset (unknown): refusing to mix them"
            )
        diff = [k for k in ("manifest", "chroms", "lengths", "bin_size") if k in d and k in ref[1]]
        diff = [k for k in diff if d[k] != ref[1][k]]
        if diff:
            raise InputError(
                f"compare: runs {ref[0].name} ({ref[1]['manifest']}) and {r.name} "
                f"({d['manifest']}) come from different datasets ({', '.join(diff)} differ)"
            )


def is_graph_model(model: str) -> bool:
    """Whether a run's model label names a graph model (``gnn...``, ``distal...``)."""
    return str(model).startswith(GRAPH_MODELS)


def _data(run: Run) -> dict:
    return dict(run.config.get("data") or {})


def _scope(run: Run) -> tuple:
    """What two runs must share to be paired: cell types, marks, held-out cell type."""
    c = run.config
    return (
        tuple(c.get("cell_types", [])),
        tuple(c.get("marks", [])),
        _data(run).get("holdout_cell_type"),
    )


def _same_but_shuffled(run: Run, other: Run) -> bool:
    """``other`` is ``run``'s edge-shuffle control: same options, ``shuffle_edges`` true."""
    a, b = _data(run), _data(other)
    if a.pop("shuffle_edges", False) or not b.pop("shuffle_edges", False):
        return False
    keys = ("model", "options", "model_config", "cell_types", "marks")
    same = all(run.config.get(k) == other.config.get(k) for k in keys)
    return same and a == b and run.model == other.model


def baselines(run: Run, runs: list[Run]) -> list[tuple[str, Run]]:
    """``(contrast, baseline run)`` pairs of one graph run: its ``local-stats`` and
    ``local`` runs (the one with the same ``edge_attr`` first) and its shuffled control.
    """
    out = []
    for kind in ("local-stats", "local"):
        same = [r for r in runs if r.model == kind and _scope(r) == _scope(run)]
        attr = _data(run).get("edge_attr", "all")
        same.sort(key=lambda r: _data(r).get("edge_attr", "all") != attr)
        out += [(kind, same[0])] if same else []
    out += [("shuffled", r) for r in runs if r is not run and _same_but_shuffled(run, r)][:1]
    return out


def _with_strata(runs: list[Run]) -> dict:
    """Every run's frame with the in-degree of the first run that records it (0 elsewhere)."""
    ref = next((r.frame for r in runs if "in_degree" in r.frame.columns), None)
    if ref is None:
        raise InputError(
            "compare: no run has in_degree in bin_predictions.parquet (give a GNN run)"
        )
    deg = ref[["cell_type", "bin", "in_degree"]].drop_duplicates(["cell_type", "bin"])
    framed = {}
    for r in runs:
        f = r.frame.drop(columns=["in_degree"], errors="ignore")
        f = f.merge(deg, on=["cell_type", "bin"], how="left")
        framed[r.name] = f.assign(in_degree=f["in_degree"].fillna(0).astype("int64"))
    return framed


def compare_runs(run_dirs: list[str | Path], *, n_boot: int = 200, seed: int = 0) -> Comparison:
    """Score every run on the strata of the first run that records ``in_degree``, and every
    graph run minus each of its baselines (:func:`baselines`) by a paired bootstrap.

    Raises:
        InputError: runs on different targets or datasets (:func:`check_comparable`), or two
            runs with the same name.
    """
    import pandas as pd

    from qtlgraph.gnn.evaluate import metrics_table, paired_table

    runs = [load_run(p) for p in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"compare: two runs are named {dup!r} (results.json run)")
    check_comparable(runs)
    framed = _with_strata(runs)
    rows, paired = [], []
    for r in runs:
        rows += [
            {"run": r.name, "model": r.model, **m}
            for m in metrics_table(framed[r.name], n_boot=n_boot, seed=seed)
        ]
    for r in (r for r in runs if is_graph_model(r.model)):
        for kind, base in baselines(r, runs):
            diff = paired_table(framed[r.name], framed[base.name], n_boot=n_boot, seed=seed)
            paired += [{"run": r.name, "baseline": base.name, "contrast": kind, **d} for d in diff]
    return Comparison(pd.DataFrame(rows), pd.DataFrame(paired))


def claim_lines(paired) -> list[str]:
    """In words, per graph run and baseline: where the 95% CI of the Pearson difference
    excludes 0 (who beats whom), and how many measured rows make no claim.
    """
    lines = []
    for (run, base), g in paired.groupby(["run", "baseline"], sort=False):
        lo, hi = g["d_pearson_low"].to_numpy(), g["d_pearson_high"].to_numpy()
        measured = np.isfinite(lo) & np.isfinite(hi)
        for label, wins in (("beats", lo > 0), ("is beaten by", hi < 0)):
            for row in g[measured & wins].itertuples():
                lines.append(
                    f"- {run} {label} {base} on {row.cell_type} {row.mark}, {row.stratum} bins "
                    f"(n={row.n}): d_pearson {row.d_pearson:+.3f} "
                    f"[{row.d_pearson_low:+.3f}, {row.d_pearson_high:+.3f}]"
                )
        none = int((measured & (lo <= 0) & (hi >= 0)).sum())
        lines.append(
            f"- {run} vs {base}: no difference can be claimed in the other {none} measured "
            f"rows (95% CI includes 0); {int((~measured).sum())} rows not measured "
            "(too few bins)"
        )
    return lines


def wide_table(table):
    """``cell_type, mark, stratum, n`` then one ``pearson [low, high]`` column per run."""
    t = table.assign(
        cell=table.apply(
            lambda r: f"{r.pearson:.3f} [{r.pearson_low:.3f}, {r.pearson_high:.3f}]", axis=1
        )
    )
    wide = t.pivot_table(
        index=["cell_type", "mark", "stratum"],
        columns="run",
        values="cell",
        aggfunc="first",
        sort=False,
    )
    n = t.groupby(["cell_type", "mark", "stratum"], sort=False)["n"].max()
    return wide.join(n).reset_index()


def markdown(frame, floatfmt: str = "{:.3f}") -> str:
    """A pipe table (pandas' ``to_markdown`` needs the optional ``tabulate``)."""

    def cell(v):
        return floatfmt.format(v) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def comparison_markdown(comp: Comparison) -> str:
    """``comparison.md``: the wide Pearson table, then per contrast the claims in words and
    the paired differences.
    """
    md = ["## Pearson r [95% bootstrap CI] on test bins", "", markdown(wide_table(comp.table))]
    if not len(comp.paired):
        return "\n".join(md) + "\n"
    for kind, heading in CONTRASTS.items():
        part = comp.paired[comp.paired["contrast"] == kind]
        if len(part):
            md += ["", f"## {heading}", "", *claim_lines(part), "", markdown(part[PAIRED_COLUMNS])]
    return "\n".join(md) + "\n"


def write_comparison(comp: Comparison, out: str | Path) -> None:
    """``comparison.tsv`` (long), ``paired.tsv`` (paired differences), ``comparison.md``
    (:func:`comparison_markdown`) and ``comparison.png`` (mean Pearson per stratum and run).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qtlgraph.outputs import staged_dir

    with staged_dir(out, force=True) as tmp:
        comp.table.to_csv(tmp / "comparison.tsv", sep="\t", index=False)
        comp.paired.to_csv(tmp / "paired.tsv", sep="\t", index=False)
        (tmp / "comparison.md").write_text(comparison_markdown(comp))
        mean = comp.table.groupby(["stratum", "run"], sort=False)["pearson"].mean().unstack()
        ax = mean.plot.bar(figsize=(8, 4), rot=0)
        ax.set_ylabel("mean Pearson r (cell types x marks)")
        plt.tight_layout()
        plt.savefig(tmp / "comparison.png", dpi=120)
        plt.close("all")
