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


def test_centred_sources_with_levels_and_node_stats(tiny_pipeline, run_cli, tmp_path):
    """``--distal-background``, ``--distal-levels`` and ``--distal-node-stats`` end to end:
    the background bins are training-chromosome bins that send no edge, the run reloads
    with them, and variant scoring still equals the brute-force recomputation."""
    from qtlgraph.gnn.distal_score import load_distal_model
    from qtlgraph.gnn.distal_train import background_bins
    from qtlgraph.gnn.score_run import _graph_spec

    out = tmp_path / "run"
    args = ("--epochs", "1", "--distal-background", "8", "--distal-levels", "1,2")
    assert train_distal_cli(run_cli, tiny_pipeline, out, *args, "--distal-node-stats") == 0
    config = json.loads((out / "config.json").read_text())
    mc = config["model_config"]
    assert mc["background"] == 8 and mc["levels"] == [1.0, 2.0] and mc["length"] > 0
    assert config["data"]["node_stats"] is True
    data_opts = {**config["data"], "graphs": [_graph_spec(g) for g in config["data"]["graphs"]]}
    model, inputs, sequences = load_distal_model(out, config, data_opts)
    data, enc = inputs.data, model.encoder
    assert data.x.shape[1] == mc["in_dim"] and len(data.node_stat_names) > 0
    assert mc["acc_col"] == data.x.shape[1] - 1 - len(data.node_stat_names)
    assert enc.out.in_features == 4 * mc["channels"]
    # the background rows are the codes of bins that are no source, on training chromosomes
    sources = set(data.bin[data.edge_index[0]].tolist())
    train_bins = set(data.bin[data.train_mask].tolist())
    bins = background_bins(data, sequences, 8, config["options"]["seed"])
    assert not set(bins.tolist()) & sources and set(bins.tolist()) <= train_bins
    assert torch.equal(enc.background, torch.from_numpy(sequences.codes(bins)))
    scoring_against_brute_force(out)


def test_bad_levels_are_one_line(tiny_pipeline, run_cli, tmp_path, capsys):
    for bad in ("0,1", "a", "1,1"):
        assert train_distal_cli(run_cli, tiny_pipeline, tmp_path / "r", "--distal-levels", bad)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--distal-levels" in err[0] and "Traceback" not in err[0]


def test_export_bigwig_of_a_distal_run(distal_run, run_cli, tmp_path):
    import pyBigWig

    from qtlgraph.gnn.export import run_index

    out = tmp_path / "bw"
    args = ["export-bigwig", "--run", str(distal_run), "--out", str(out), "--part", "test"]
    assert run_cli(args) == 0
    saved = pd.read_parquet(distal_run / "bin_predictions.parquet")
    index = run_index(distal_run)
    row = saved.iloc[0]
    bw = pyBigWig.open(str(out / f"{row['cell_type']}.{row['mark']}.pred.bw"))
    b = np.array([int(row["bin"])])
    chrom, start = index.chroms[int(index.chrom_of_bins(b)[0])], int(index.starts(b)[0])
    (value,) = bw.values(chrom, int(start), int(start) + 1)
    bw.close()
    assert value == pytest.approx(float(row["pred"]), rel=1e-5, abs=1e-6)


def test_rf_refuses_a_distal_run_in_one_line(distal_run, run_cli, tmp_path, capsys):
    capsys.readouterr()
    assert run_cli(["rf", "--model", str(distal_run), "--out", str(tmp_path / "rf")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "distal run" in err[0] and "score-variants" in err[0], err
    assert not (tmp_path / "rf" / "rf.json").exists()
