"""``qtlgraph train --model distal`` end to end on the tiny pipeline: run files, resume,
variant scoring against a brute-force recomputation, the QTL evaluation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from gnn_helpers import scoring_against_brute_force, train_distal_cli

from qtlgraph.runtime import load_checkpoint


@pytest.fixture(scope="module")
def distal_run(tiny_pipeline, run_cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("distal") / "run"
    assert train_distal_cli(run_cli, tiny_pipeline, out, "--epochs", "2") == 0
    return out


def test_run_directory_like_a_graph_run(distal_run):
    for name in ("config.json", "checkpoint.pt", "results.json", "bin_predictions.parquet"):
        assert (distal_run / name).is_file()
    config = json.loads((distal_run / "config.json").read_text())
    results = json.loads((distal_run / "results.json").read_text())
    assert config["model"] == results["model"] == "distal"
    assert config["data"]["kmer"] == 0 and config["options"]["k"] == 16
    assert {r["stratum"] for r in results["metrics"]} >= {"all", "linked", "deg0"}
    frame = pd.read_parquet(distal_run / "bin_predictions.parquet")
    assert list(frame.columns) == ["cell_type", "mark", "bin", "pred", "target", "in_degree"]
    assert np.isfinite(frame["pred"]).all()


def test_gated_message_with_softplus_is_refused(tiny_pipeline, run_cli, tmp_path, capsys):
    out = tmp_path / "run"
    args = ("--distal-message", "gated", "--distal-activation", "softplus")
    assert train_distal_cli(run_cli, tiny_pipeline, out, *args) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--distal-message gated" in err[0] and "relu" in err[0], err
    assert "Traceback" not in err[0] and not out.exists()


def test_resume_is_bit_exact(tiny_pipeline, run_cli, tmp_path, distal_run):
    part = tmp_path / "part"
    assert train_distal_cli(run_cli, tiny_pipeline, part, "--epochs", "1") == 0
    assert train_distal_cli(run_cli, tiny_pipeline, part, "--epochs", "2", "--resume") == 0
    a, b = load_checkpoint(part / "checkpoint.pt"), load_checkpoint(distal_run / "checkpoint.pt")
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    for key, value in b["model"].items():
        assert torch.equal(a["model"][key], value), key


def test_scoring_equals_brute_force_recomputation(distal_run):
    scoring_against_brute_force(distal_run)


def test_score_variants_evaluate_qtl(distal_run, run_cli, tmp_path):
    out = tmp_path / "qtl_eval.tsv"
    args = ["score-variants", "--run", str(distal_run), "--evaluate-qtl", "--out", str(out)]
    assert run_cli([*args, "--device", "cpu"]) == 0
    metrics = pd.read_csv(out, sep="\t")
    assert {"qtl_beta", "truth"} <= set(metrics["comparison"])
    assert "median_abs_ratio" in metrics.columns
    assert (metrics["n_reached"] > 0).any()


def test_qtl_aux_rows_come_from_training_chromosomes_only(
    distal_run, tiny_pipeline, run_cli, tmp_path
):
    from qtlgraph.gnn.distal_aux import training_rows
    from qtlgraph.gnn.distal_train import load_distal_data

    config = json.loads((distal_run / "config.json").read_text())
    inputs, seqs = load_distal_data(config["data"], 0)
    rows = training_rows(config["data"], inputs, seqs)
    assert len(rows.target) > 0
    data = inputs.data
    assert data.train_mask[rows.target].all()
    n = seqs.index.n_bins
    assert data.train_mask[rows.snp_bin].all() and not data.test_mask[rows.snp_bin % n].any()
    ref = torch.from_numpy(seqs.codes(rows.snp_bin.numpy()))
    every = torch.arange(len(rows.target))
    changed = (rows.alt_codes(every, ref) != ref).sum(dim=1)
    assert (changed == 1).all()  # each row's alternative base differs from the genome's
    out = tmp_path / "aux"
    assert (
        train_distal_cli(run_cli, tiny_pipeline, out, "--epochs", "1", "--qtl-aux-weight", "1") == 0
    )
    assert json.loads((out / "config.json").read_text())["options"]["qtl_aux_weight"] == 1.0
