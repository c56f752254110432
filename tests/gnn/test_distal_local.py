"""The distal model's fine-tuned local part (``--local-part finetune``) on the tiny pipeline:
it starts as the frozen model, recomputed node features equal the live ones, training
moves the encoder's weights but not its BatchNorm statistics, and a finished run scores
variants with its own encoder."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from gnn_helpers import scoring_against_brute_force, train_distal_cli

from qtlgraph.encoders.embed import load_local_model
from qtlgraph.runtime import load_checkpoint, read_json


def _inputs(tiny):
    from qtlgraph.gnn.distal_train import load_distal_data

    data_opts = {
        "dataset": str(tiny.dataset),
        "graphs": [f"{c}={g}" for c, g in tiny.graphs.items()],
        "embeddings": str(tiny.embeddings),
    }
    inputs, seqs = load_distal_data(data_opts, 0)
    return data_opts, inputs, seqs


def _first_batch(inputs, seqs, local, n=32):
    from qtlgraph.gnn.distal_data import DistalBatches, labelled_nodes

    nodes = labelled_nodes(inputs.data, "train")[:n]
    batches = DistalBatches(
        inputs.data, nodes, seqs, k=None, batch_size=n, shuffle=False, part=None, local=local
    )
    return next(iter(batches))[0]


def test_finetuned_model_starts_as_the_frozen_one(tiny_pipeline):
    from qtlgraph.gnn.distal_local import refresh_embeddings
    from qtlgraph.gnn.distal_train import DistalOptions, local_part, new_model

    data_opts, inputs, seqs = _inputs(tiny_pipeline)
    opts = DistalOptions(local_part="finetune", dropout=0.0)
    encoder, local = local_part(inputs, seqs, opts, data_opts)
    tuned = new_model(inputs.data, opts, encoder).eval()
    frozen = new_model(inputs.data, opts._replace(local_part="frozen")).eval()
    batch = _first_batch(inputs, seqs, local)
    live, cached = batch[:6], batch[6:]
    d = encoder.config.dim
    seeds = len(cached[0])
    with torch.no_grad():
        emb = tuned.standardized_embedding(*cached)
        # the cache may hold bf16-computed (its recorded error), float16-stored embeddings
        meta = read_json(tiny_pipeline.embeddings / "embed.json")
        err = 2 * (meta.get("bf16_max_abs_error") or 0.0) + 8 * 2.0**-11  # |embedding| < 8
        bound = err / float(inputs.data.x_scale[:d].min())
        assert (emb - live[0][:seeds, :d]).abs().max() < bound
        # same weights elsewhere: with the cache's own embedding columns, the same outputs
        assert torch.equal(tuned(*live), frozen(*live))
        refresh_embeddings(tuned, inputs.data, local)
        again = _first_batch(inputs, seqs, None)
        # recomputed node features give what the live path computes
        torch.testing.assert_close(tuned(*again), tuned(*again, *cached), atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def tuned_run(tiny_pipeline, run_cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("distal_tuned") / "run"
    assert (
        train_distal_cli(run_cli, tiny_pipeline, out, "--epochs", "2", "--local-part", "finetune")
        == 0
    )
    return out


def test_training_moves_the_encoder_weights_not_its_statistics(tiny_pipeline, tuned_run):
    config = json.loads((tuned_run / "config.json").read_text())
    assert config["options"]["local_part"] == "finetune"
    assert config["model_config"]["local_encoder"]["dim"] > 0
    meta = read_json(tiny_pipeline.embeddings / "embed.json")
    start, _ = load_local_model(meta["run"])
    state = load_checkpoint(tuned_run / "checkpoint.pt")["model"]
    moved = []
    for key, value in start.state_dict().items():
        tuned = state[f"local_encoder.{key}"]
        if key.startswith("head."):
            assert torch.equal(tuned, value), key  # the mark head is not used
        elif "running_" in key or "num_batches" in key:
            assert torch.equal(tuned, value), key  # BatchNorm keeps its statistics
        else:
            moved.append(not torch.equal(tuned, value))
    assert moved and all(moved)


def test_tuned_run_scores_variants_with_its_own_encoder(tuned_run, run_cli, tmp_path):
    scoring_against_brute_force(tuned_run)
    out = tmp_path / "effects.tsv"
    args = ["score-variants", "--run", str(tuned_run), "--evaluate-qtl", "--out", str(out)]
    assert run_cli([*args, "--device", "cpu"]) == 0
    metrics = pd.read_csv(out, sep="\t")
    assert {"qtl_beta", "truth"} <= set(metrics["comparison"])
    assert (metrics["n_reached"] > 0).any()
