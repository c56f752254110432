"""Side-by-side metrics of several runs (GNN, local baseline, U-Nets) on the same bins."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from qtlgraph.errors import InputError


class Comparison(NamedTuple):
    """``table``: one row per cell type, mark, stratum and run; ``paired``: GNN - local."""

    table: object
    paired: object


def _load_run(path: Path):
    import pandas as pd

    from qtlgraph.runtime import read_json

    preds = path / "bin_predictions.parquet"
    if not preds.is_file():
        raise InputError(f"{path}: no bin_predictions.parquet (not a finished run)")
    res = read_json(path / "results.json")
    return res.get("run", path.name), res.get("model", "?"), pd.read_parquet(preds)


def compare_runs(run_dirs: list[str | Path], *, n_boot: int = 200, seed: int = 0) -> Comparison:
    """Score every run on the strata of the first run that records ``in_degree``.

    Bins absent from that run get in-degree 0. Each ``gnn:*`` run is also compared with
    the first ``local`` run by a paired bootstrap over the shared bins.
    """
    import pandas as pd
    from qtlgraph.gnn.evaluate import metrics_table, paired_table

    runs = [_load_run(Path(p)) for p in run_dirs]
    ref = next((f for _, _, f in runs if "in_degree" in f.columns), None)
    if ref is None:
        raise InputError(
            "compare: no run has in_degree in bin_predictions.parquet (give a GNN run)"
        )
    deg = ref[["cell_type", "bin", "in_degree"]].drop_duplicates(["cell_type", "bin"])
    rows, framed = [], {}
    for name, model, f in runs:
        f = f.drop(columns=["in_degree"], errors="ignore").merge(
            deg, on=["cell_type", "bin"], how="left"
        )
        f["in_degree"] = f["in_degree"].fillna(0).astype("int64")
        framed[name] = (model, f)
        rows += [
            {"run": name, "model": model, **r} for r in metrics_table(f, n_boot=n_boot, seed=seed)
        ]
    local = next((f for m, f in framed.values() if m == "local"), None)
    paired = []
    for name, (model, f) in framed.items():
        if model.startswith("gnn") and local is not None:
            paired += [{"run": name, **r} for r in paired_table(f, local, n_boot=n_boot, seed=seed)]
    return Comparison(pd.DataFrame(rows), pd.DataFrame(paired))


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


def write_comparison(comp: Comparison, out: str | Path) -> None:
    """``comparison.tsv`` (long), ``comparison.md`` (wide Pearson table, paired
    differences) and ``comparison.png`` (mean Pearson per stratum and run).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qtlgraph.outputs import staged_dir

    with staged_dir(out, force=True) as tmp:
        comp.table.to_csv(tmp / "comparison.tsv", sep="\t", index=False)
        md = ["## Pearson r [95% bootstrap CI] on test bins", "", markdown(wide_table(comp.table))]
        if len(comp.paired):
            cols = [
                "run",
                "cell_type",
                "mark",
                "stratum",
                "n",
                "d_pearson",
                "d_pearson_low",
                "d_pearson_high",
            ]
            md += ["", "## GNN minus local (paired bootstrap)", "", markdown(comp.paired[cols])]
        (tmp / "comparison.md").write_text("\n".join(md) + "\n")
        mean = comp.table.groupby(["stratum", "run"], sort=False)["pearson"].mean().unstack()
        ax = mean.plot.bar(figsize=(8, 4), rot=0)
        ax.set_ylabel("mean Pearson r (cell types x marks)")
        plt.tight_layout()
        plt.savefig(tmp / "comparison.png", dpi=120)
        plt.close("all")
