"""The conditioning experiment of the report (baselines A-D): training against test ranking.

The report found that models B and C, which see accessibility, reach the lowest training
loss, while A and then D score best on the held-out chromosomes by PR-AUC (its Figures 12
and 13). :func:`write_conditioning` draws the same two figures from the U-Net runs'
``results.json`` (per-epoch ``history`` and test ``metrics``) and writes the table that
puts the two rankings side by side. A model whose mean test ROC-AUC stays below
:data:`LEARNT_ROC_AUC` is marked as not learnt and left out of both rankings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph.analysis.plots import new_figure, save_figure
from qtlgraph.errors import InputError

#: Mean test ROC-AUC below which a model counts as not learnt (0.5 is chance).
LEARNT_ROC_AUC = 0.55
#: Models the report expected to reach the lowest training loss, and to score best at test.
REPORT_TRAIN_BEST, REPORT_TEST_BEST = ("B", "C"), ("A", "D")


def load_results(run_dirs: list[str | Path]) -> dict[str, dict]:
    """``results.json`` of each U-Net run, keyed by its baseline letter (``unet:A`` -> ``A``)."""
    from qtlgraph.runtime import read_json

    out = {}
    for run in run_dirs:
        res = read_json(Path(run) / "results.json")
        model = str(res.get("model", "")) if isinstance(res, dict) else ""
        if not model.startswith("unet:"):
            raise InputError(f"{Path(run) / 'results.json'}: not a U-Net run (model {model!r})")
        out[model.split(":", 1)[1]] = res
    return dict(sorted(out.items()))


def _test_rows(res: dict) -> pd.DataFrame:
    rows = [m for m in res.get("metrics", []) if m.get("split", "test") == "test"]
    return pd.DataFrame(rows, columns=["cell_type", "mark", "pr_auc", "roc_auc", "n_bases"])


def conditioning_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per model: lowest training and best validation loss, mean test PR/ROC-AUC,
    whether it learnt, and the two rankings (1 = best; learnt models only).

    Columns: ``model, epochs, windows, train_s, eval_s, best_epoch, train_loss, valid_loss,
    test_pr_auc, test_roc_auc, learnt, train_rank, test_rank`` (``windows``: training windows
    seen; ``train_s``, ``eval_s``: wall seconds of training and evaluation).
    """
    rows = []
    for model, res in results.items():
        hist = pd.DataFrame(res.get("history", []), columns=["epoch", "train_loss", "valid_loss"])
        test = _test_rows(res)
        roc = float(test["roc_auc"].astype(float).mean()) if len(test) else np.nan
        seconds = res.get("seconds") if isinstance(res.get("seconds"), dict) else {}
        rows.append(
            {
                "model": model,
                "epochs": len(hist),
                "windows": res.get("windows_seen"),
                "train_s": seconds.get("train"),
                "eval_s": seconds.get("evaluate"),
                "best_epoch": res.get("best_epoch"),
                "train_loss": float(hist["train_loss"].min()) if len(hist) else np.nan,
                "valid_loss": float(hist["valid_loss"].min()) if len(hist) else np.nan,
                "test_pr_auc": float(test["pr_auc"].astype(float).mean()) if len(test) else np.nan,
                "test_roc_auc": roc,
                "learnt": bool(np.isfinite(roc) and roc >= LEARNT_ROC_AUC),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    learnt = table["learnt"]
    table["train_rank"] = table["train_loss"].where(learnt).rank(method="min")
    table["test_rank"] = table["test_pr_auc"].where(learnt).rank(method="min", ascending=False)
    return table


def _ranked(table: pd.DataFrame, column: str) -> list[str]:
    return table.dropna(subset=[column]).sort_values(column)["model"].tolist()


def _groups_ordered(table: pd.DataFrame, column: str, first: tuple, lower: bool) -> bool | None:
    """Whether every learnt model of ``first`` beats every other learnt one on ``column``
    (lower is better when ``lower``); None when either side has no learnt model.
    """
    rows = table[table["learnt"]]
    a = rows.loc[rows["model"].isin(first), column].astype(float)
    b = rows.loc[~rows["model"].isin(first), column].astype(float)
    if a.empty or b.empty:
        return None
    return bool(a.max() < b.min()) if lower else bool(a.min() > b.max())


def finding(table: pd.DataFrame) -> str:
    """The experiment's result in words: the two rankings and whether the report's reversal
    (B, C reach the lowest training loss; A, D the best test PR-AUC) is seen here.
    """
    if table.empty:
        return "No U-Net run to compare."
    lines = []
    lost = table.loc[~table["learnt"], "model"].tolist()
    if lost:
        lines.append(
            f"Not learnt (mean test ROC-AUC < {LEARNT_ROC_AUC}), left out of the rankings: "
            f"{', '.join(lost)}."
        )
    train, test = _ranked(table, "train_rank"), _ranked(table, "test_rank")
    if len(train) < 2:
        return " ".join([*lines, "Fewer than two models learnt: no ranking to compare."])
    lines.append(f"Lowest training loss first: {', '.join(train)}.")
    lines.append(f"Best test PR-AUC first: {', '.join(test)}.")
    trains = _groups_ordered(table, "train_loss", REPORT_TRAIN_BEST, lower=True)
    tests = _groups_ordered(table, "test_pr_auc", REPORT_TEST_BEST, lower=False)
    said = {True: "yes", False: "no", None: "cannot tell"}
    lines.append(
        f"B and C below A and D in training loss (the report's first finding): {said[trains]}; "
        f"A and D above B and C in test PR-AUC (its second): {said[tests]}."
    )
    if trains is None or tests is None:
        lines.append(
            "The report's reversal cannot be tested here: no model of one side learnt "
            f"({', '.join(lost)})."
        )
    elif trains and tests:
        lines.append("This dataset reproduces the report's reversal.")
    else:
        lines.append("This dataset does not reproduce the report's reversal.")
    return " ".join(lines)


def _text(value) -> str:
    """A table cell: ``-`` for a missing value, integers without decimals."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def table_markdown(table: pd.DataFrame) -> str:
    """The conditioning table as Markdown; a model that did not learn says so in its row."""
    head = "| model | epochs | windows | train / eval s | best epoch | lowest train BCE "
    head += "| best valid BCE | test PR-AUC | test ROC-AUC | train rank | test rank |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        ranks = (
            f"{int(r.train_rank)} | {int(r.test_rank)}"
            if r.learnt
            else "not learnt (test ROC-AUC near chance): not ranked | -"
        )
        lines.append(
            f"| {r.model} | {r.epochs} | {_text(r.windows)} | {_text(r.train_s)} / "
            f"{_text(r.eval_s)} | {_text(r.best_epoch)} "
            f"| {r.train_loss:.4f} | {r.valid_loss:.4f} | {r.test_pr_auc:.3f} "
            f"| {r.test_roc_auc:.3f} | {ranks} |"
        )
    return "\n".join(lines) + "\n"


def plot_training_curves(results: dict[str, dict], path: str | Path) -> Path:
    """Figure 12: per-epoch training (solid) and validation (dashed) loss of every model."""
    figure, axes = new_figure(size=(6.5, 4.2))
    ax = axes[0, 0]
    for i, (model, res) in enumerate(results.items()):
        hist = pd.DataFrame(res.get("history", []), columns=["epoch", "train_loss", "valid_loss"])
        color = f"C{i}"
        ax.plot(hist["epoch"], hist["train_loss"], "-o", color=color, label=f"{model} train")
        if hist["valid_loss"].notna().any():
            ax.plot(hist["epoch"], hist["valid_loss"], "--s", color=color, label=f"{model} valid")
        best = res.get("best_epoch")
        if best is not None and (hist["epoch"] == best).any():
            row = hist[hist["epoch"] == best].iloc[0]
            ax.plot([best], [row["valid_loss"]], "*", color=color, markersize=12)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="binary cross-entropy (masked)")
    ax.set_title("Training curves, baselines A-D (star: kept epoch)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(figure, path)


def plot_test_pr_auc(results: dict[str, dict], path: str | Path) -> Path:
    """Figure 13: test PR-AUC per mark (groups) and model (bars), mean over cell types,
    with each cell type as a dot and the positive fraction (a random model's PR-AUC) as a line.
    """
    frames = []
    for model, res in results.items():
        rows = [m for m in res.get("metrics", []) if m.get("split", "test") == "test"]
        frame = pd.DataFrame(rows, columns=["cell_type", "mark", "pr_auc", "positive_fraction"])
        frames.append(frame.assign(model=model))
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    figure, axes = new_figure(size=(6.5, 4.2))
    ax = axes[0, 0]
    marks, models = list(dict.fromkeys(data["mark"])), list(results)
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        sub = data[data["model"] == model]
        for j, mark in enumerate(marks):
            vals = sub.loc[sub["mark"] == mark, "pr_auc"].astype(float)
            x = j + (i - (len(models) - 1) / 2) * width
            ax.bar(x, vals.mean(), width * 0.9, color=f"C{i}", label=model if j == 0 else None)
            ax.plot(np.full(len(vals), x), vals, ".", color="k", markersize=4)
    for j, mark in enumerate(marks):
        chance = data.loc[data["mark"] == mark, "positive_fraction"].astype(float).mean()
        ax.hlines(chance, j - 0.45, j + 0.45, colors="grey", linestyles=":")
    ax.set_xticks(range(len(marks)), marks)
    ax.set(ylabel="test PR-AUC (base resolution)")
    ax.set_title("Test PR-AUC per model and mark (dots: cell types; dotted: chance)", fontsize=10)
    ax.legend(title="model", fontsize=8)
    return save_figure(figure, path)


def write_conditioning(run_dirs: list[str | Path], out_dir: str | Path) -> Path:
    """``conditioning.md`` (table and finding), ``conditioning.tsv``, ``training_curves.png``
    (Figure 12) and ``test_pr_auc.png`` (Figure 13) in ``out_dir``; returns the Markdown path.
    """
    from qtlgraph.outputs import atomic_path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = load_results(run_dirs)
    table = conditioning_table(results)
    with atomic_path(out_dir / "conditioning.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    plot_training_curves(results, out_dir / "training_curves.png")
    plot_test_pr_auc(results, out_dir / "test_pr_auc.png")
    text = [
        "Training loss beside test PR-AUC (the report's Figures 12 and 13: "
        "[training curves](training_curves.png), [test PR-AUC](test_pr_auc.png)).",
        "",
        table_markdown(table),
        finding(table),
        "",
    ]
    path = out_dir / "conditioning.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(text))
    return path
