"""``report.md`` for a demo directory: a summary of the headline numbers, then the tables
and figures each stage wrote, in order.
"""

from __future__ import annotations

import json
from pathlib import Path

from qtlgraph.outputs import atomic_path

#: (title, folder, Markdown file names to try, whether the folder's PNGs follow the table)
_SECTIONS = [
    ("QTL graph degrees", "degrees", ("summary.md",), True),
    (
        "U-Net baselines A-D (report Table 3) on held-out chromosomes",
        "unet_eval",
        ("unet_eval.md",),
        False,
    ),
    (
        "Conditioning experiment: training loss against test PR-AUC (report Figures 12, 13)",
        "unet_eval",
        ("conditioning.md",),
        True,
    ),
    (
        "Models on held-out chromosomes: distal model and GNN vs local, local + graph "
        "statistics, edge-shuffled controls and U-Net baselines",
        "compare",
        ("comparison.md",),
        True,
    ),
    ("Held-out cell type (tcel): GNN vs local", "compare_holdout", ("comparison.md",), True),
    ("Receptive field of U-Net A, untrained vs trained", "rf", ("rf.md",), True),
    ("Distal reach of the GNN beside the U-Net and Enformer", "rf_gnn", ("rf.md",), True),
]


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.md")) if folder.is_dir() else []
    return found[0] if found else None


#: Demo runs in the summary, in order, with the label they get there.
SUMMARY_RUNS = (
    ("distal", "distal model (source DNA encoded through the target's loss)"),
    ("distal_shuffled", "distal model, edges shuffled (degrees kept)"),
    ("gnn", "GNN (cached embeddings)"),
    ("gnn_shuffled", "GNN, edges shuffled (degrees kept)"),
    ("local_stats", "local + graph statistics (degrees, QTL counts, edge summaries)"),
    ("local", "local baseline (GNN without edges)"),
    ("local_encoder", "bin encoder (train-local)"),
    ("unet_A", "U-Net A: sequence -> marks x cells"),
    ("unet_B", "U-Net B: sequence + accessibility -> marks"),
    ("unet_C", "U-Net C: sequence + accessibility -> marks x cells"),
    ("unet_D", "U-Net D: sequence -> marks shared"),
)


def _mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and r[key] == r[key]]
    return sum(vals) / len(vals) if vals else None


def summary_row(label: str, res: dict) -> str:
    """One summary row: test means over cell types and marks of a run's ``results.json``."""
    from qtlgraph.analysis.conditioning import LEARNT_ROC_AUC

    rows = [
        m
        for m in res.get("metrics", [])
        if m.get("split", "test") == "test" and m.get("stratum", "all") == "all"
    ]
    model = str(res.get("model", "?"))
    roc = _mean(rows, "roc_auc")
    note = ""
    if model.startswith("unet:"):
        note = f"best epoch {res.get('best_epoch', '-')} of {res.get('epochs_run', '-')}"
        if res.get("filter_init") == "enriched":
            note += "; first filters started at enriched k-mers"
        if roc is not None and roc < LEARNT_ROC_AUC:
            note = "did not learn (test ROC-AUC near chance); " + note
    cells = [_mean(rows, k) for k in ("pearson", "pr_auc")] + [roc]
    text = " | ".join("-" if v is None else f"{v:.3f}" for v in cells)
    level = "bases" if model.startswith("unet:") else "bins"
    return f"| {label} | {model} | {res.get('target', '-')} | {text} | {level} | {note} |"


def summary_lines(out: Path) -> list[str]:
    """The report's opening table: one row per demo run found under ``out/runs``, means over
    cell types and marks of the test-chromosome metrics, and links to the main figures.
    """
    from qtlgraph.runtime import read_json

    rows = []
    for name, label in SUMMARY_RUNS:
        path = out / "runs" / name / "results.json"
        if path.is_file():
            rows.append(summary_row(label, read_json(path)))
    if not rows:
        return []
    lines = ["## Summary (test chromosomes; means over cell types and marks)", ""]
    lines += [
        "| run | model | target | bin Pearson r | PR-AUC | ROC-AUC | AUCs over | note |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    figures = [
        ("model comparison", "compare/comparison.png"),
        ("U-Net training curves (report Figure 12)", "unet_eval/training_curves.png"),
        ("U-Net test PR-AUC (report Figure 13)", "unet_eval/test_pr_auc.png"),
    ]
    links = [f"[{title}]({rel})" for title, rel in figures if (out / rel).is_file()]
    if links:
        lines += ["Figures: " + ", ".join(links) + ".", ""]
    finding = out / "unet_eval" / "conditioning.md"
    if finding.is_file():
        lines += ["Conditioning experiment: " + finding.read_text().strip().splitlines()[-1], ""]
    return lines


def _relink(text: str, folder: str) -> str:
    """Links to a stage's own figures (``](name.png)``) made relative to the report."""
    import re

    return re.sub(r"\]\(([^/):]+\.png)\)", lambda m: f"]({folder}/{m.group(1)})", text)


def write_report(out: Path, timings: list[tuple[str, float]]) -> Path:
    """Collect each stage's Markdown table and PNG figures into ``out/report.md``, after a
    summary of the headline numbers (:func:`summary_lines`).
    """
    lines, used = ["# qtlgraph demo report", "", *summary_lines(out)], set()
    for title, folder, names, pngs in _SECTIONS:
        table = _first_existing(out / folder, names)
        if table is None or table in used:
            continue
        used.add(table)
        lines += [f"## {title}", "", _relink(table.read_text().strip(), folder), ""]
        for png in sorted((out / folder).glob("*.png")) if pngs else []:
            lines.append(f"![{png.stem}]({png.relative_to(out)})")
        lines.append("")
    rf_json = out / "rf" / "rf.json"
    if rf_json.is_file() and not (out / "rf" / "rf.md").is_file():
        lines += [
            "## Receptive fields",
            "",
            "```json",
            json.dumps(json.loads(rf_json.read_text()), indent=2)[:4000],
            "```",
            "",
        ]
    for folder, label in (("variants_distal", "distal model"), ("variants", "GNN")):
        variants = out / folder / "qtl_eval.tsv"
        if variants.is_file():
            import pandas as pd

            table = pd.read_csv(variants, sep="\t")
            lines += [
                f"## Variant effects ({label}) on held-out chromosomes vs QTL betas and the "
                "true effects",
                "",
                table.to_markdown(index=False, floatfmt=".3g"),
                "",
            ]
            if table["sign_concordance"].isna().all():
                lines += [
                    f"The {label} predicts no change (exactly 0) at every reached target, so "
                    "sign and rank are undefined: it has not learnt what the variants' "
                    "source sequence does at a distance.",
                    "",
                ]
    if timings:
        lines += ["## Stage timings (this run)", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {name} | {sec:.1f} |" for name, sec in timings]
        from qtlgraph.pipeline import SIDE_LANE

        if any(name in SIDE_LANE for name, _ in timings):
            lines += [
                "",
                f"{', '.join(SIDE_LANE)} ran in a second process beside the stages from "
                "train-local on, at the lowest CPU priority, so their seconds overlap with "
                "those stages' and the total is less than the sum.",
            ]
        lines.append("")
    report = out / "report.md"
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines))
    return report
