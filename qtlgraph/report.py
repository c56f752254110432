"""``report.md`` for a demo directory: the tables and figures each stage wrote, in order."""

from __future__ import annotations

import json
from pathlib import Path

from qtlgraph.outputs import atomic_path

_SECTIONS = [
    ("QTL graph degrees", "degrees", ("summary.md",)),
    (
        "U-Net baselines A-D (report Table 3) on held-out chromosomes",
        "unet_eval",
        ("unet_eval.md",),
    ),
    (
        "Models on held-out chromosomes: GNN vs local vs U-Net baselines",
        "compare",
        ("comparison.md",),
    ),
    ("Held-out cell type (tcel): GNN vs local", "compare_holdout", ("comparison.md",)),
    ("Receptive field of U-Net A, untrained vs trained", "rf", ("rf.md",)),
    ("Distal reach of the GNN beside the U-Net and Enformer", "rf_gnn", ("rf.md",)),
]


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.md")) if folder.is_dir() else []
    return found[0] if found else None


def write_report(out: Path, timings: list[tuple[str, float]]) -> Path:
    """Collect each stage's Markdown table and PNG figures into ``out/report.md``."""
    lines = ["# qtlgraph demo report", ""]
    for title, folder, names in _SECTIONS:
        table = _first_existing(out / folder, names)
        if table is None:
            continue
        lines += [f"## {title}", "", table.read_text().strip(), ""]
        for png in sorted((out / folder).glob("*.png")):
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
    variants = out / "variants" / "qtl_eval.tsv"
    if variants.is_file():
        import pandas as pd

        table = pd.read_csv(variants, sep="\t")
        lines += [
            "## Variant effects on held-out chromosomes vs QTL betas and the true effects",
            "",
            table.to_markdown(index=False, floatfmt=".3f"),
            "",
        ]
    if timings:
        lines += ["## Stage timings (this run)", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {name} | {sec:.1f} |" for name, sec in timings]
        lines.append("")
    report = out / "report.md"
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines))
    return report
