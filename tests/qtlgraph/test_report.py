"""The demo report: summary table first, each stage's section, figures linked from the report."""

from __future__ import annotations

import json
from pathlib import Path

from qtlgraph.pipeline import demo_stages
from qtlgraph.report import summary_row, write_report


def _metrics(pearson, pr, roc, strata=("all",)):
    return [
        {
            "cell_type": c,
            "mark": m,
            "split": "test",
            "stratum": s,
            "pearson": pearson + d,
            "pr_auc": pr,
            "roc_auc": roc,
            "positive_fraction": 0.1,
        }
        for c, d in (("mono", 0.1), ("tcel", -0.1))
        for m in ("H3K27ac", "H3K4me1")
        for s in strata
    ]


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)


def _unet(model, train, roc):
    history = [
        {"epoch": i + 1, "train_loss": t, "valid_loss": t + 0.05} for i, t in enumerate(train)
    ]
    return {
        "run": f"unet_{model}",
        "model": f"unet:{model}",
        "target": "log1p(bin mean)",
        "metrics": _metrics(0.3, 0.2, roc),
        "history": history,
        "best_epoch": len(train),
        "epochs_run": len(train),
    }


def fake_demo(out: Path) -> Path:
    """A demo directory as the stages leave it (GNN, U-Nets A-D, their tables, a figure)."""
    from qtlgraph.analysis.conditioning import write_conditioning

    gnn = {"run": "gnn", "model": "gnn:graphconv", "target": "log1p(bin mean)"}
    _write(
        out / "runs/gnn/results.json", {**gnn, "metrics": _metrics(0.9, 0.8, 0.95, ("all", "deg0"))}
    )
    for model, train, roc in (
        ("A", [0.4, 0.3], 0.7),
        ("B", [0.3, 0.2], 0.6),
        ("C", [0.3], 0.65),
        ("D", [0.5], 0.5),
    ):
        _write(out / f"runs/unet_{model}/results.json", _unet(model, train, roc))
    _write(out / "unet_eval/unet_eval.md", "| run | model |\n|---|---|\n| unet_A | unet:A |\n")
    write_conditioning([out / f"runs/unet_{m}" for m in "ABCD"], out / "unet_eval")
    _write(out / "compare/comparison.md", "| run | pearson |\n|---|---|\n")
    (out / "compare/comparison.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return out


def test_summary_row_means_and_not_learnt_note():
    row = summary_row("U-Net D", _unet("D", [0.5], 0.5))
    assert row.startswith("| U-Net D | unet:D | log1p(bin mean) | 0.300 | 0.200 | 0.500 | bases |")
    assert "did not learn" in row and "best epoch 1 of 1" in row
    assert "enriched k-mers" not in row
    seeded = summary_row("U-Net A", {**_unet("A", [0.4], 0.7), "filter_init": "enriched"})
    assert "did not learn" not in seeded and "first filters started at enriched k-mers" in seeded
    gnn = {
        "model": "gnn:graphconv",
        "target": "log1p(bin mean)",
        "metrics": _metrics(0.9, 0.8, 0.95, ("all", "deg0")),
    }
    gnn["metrics"][0]["pearson"] = float("nan")  # one missing value is left out of the mean
    assert (
        "| GNN | gnn:graphconv | log1p(bin mean) | 0.867 | 0.800 | 0.950 | bins |  |"
        == summary_row("GNN", gnn)
    )


def test_report_summary_first_then_sections_with_figures(tmp_path):
    out = fake_demo(tmp_path / "demo")
    text = write_report(out, [("train-unet A", 12.5)]).read_text()
    lines = text.splitlines()
    assert lines[2].startswith("## Summary")
    assert text.index("| GNN (cached embeddings) | gnn:graphconv |") < text.index(
        "## U-Net baselines A-D"
    )
    assert text.count("| U-Net A: sequence -> marks x cells |") == 1 and text.count("| U-Net") == 4
    assert "[U-Net training curves (report Figure 12)](unet_eval/training_curves.png)" in text
    assert "[model comparison](compare/comparison.png)" in text
    assert "Conditioning experiment: " in text and "reversal" in text
    section = text[text.index("## Conditioning experiment") :]
    assert "](unet_eval/training_curves.png)" in section  # relinked from the stage's own folder
    assert "![test_pr_auc](unet_eval/test_pr_auc.png)" in section
    unet_section = text[text.index("## U-Net baselines") : text.index("## Conditioning experiment")]
    assert "![" not in unet_section  # the figures appear once, with the conditioning table
    assert text.count("| unet_A | unet:A |") == 1 and "| train-unet A | 12.5 |" in text


def test_demo_unet_stages_use_one_budget_and_write_the_conditioning_figures(tmp_path):
    stages = {s.name: s for s in demo_stages(tmp_path, seed=1)}
    args = [stages[f"train-unet {m}"].args for m in "ABCD"]
    assert all(a[a.index("--model") + 1] == m for a, m in zip(args, "ABCD"))
    budget = [a[a.index("--out") + 2 :] for a in args]
    assert all(b == budget[0] for b in budget) and "--patience" in budget[0]
    ev = stages["evaluate U-Nets"].args
    assert ev[ev.index("--conditioning") + 1] == str(tmp_path / "unet_eval")


def test_variant_tables_say_when_a_model_predicts_no_change(tmp_path):
    cols = "comparison\tmark\tn\tn_reached\tsign_concordance\tspearman\n"
    for folder, value in (("variants_distal", "nan"), ("variants", "0.9")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "qtl_eval.tsv").write_text(cols + f"truth\tall\t4\t2\t{value}\t0.5\n")
    text = write_report(tmp_path, []).read_text()
    assert text.index("Variant effects (distal model)") < text.index("Variant effects (GNN)")
    assert text.count("predicts no change (exactly 0)") == 1
    assert "The distal model predicts no change" in text
