"""Where a distal run's variant effect goes: why predicted sizes fall short of the truth.

For the held-out causal variants of a simulated dataset (the rows that ``qtlgraph
score-variants --run RUN --evaluate-qtl --out DIR/qtl_eval.tsv`` wrote to
``DIR/qtl_eval.rows.tsv``, comparison ``truth``, first mark), per mark:

- ``|pred| / |true|``: the variant's predicted change at its target over the true one;
- ``knockout / |true|``: the change when the SNP's whole source bin is replaced by N
  (its message removed) over the true change of the variant: how much of the target's
  level the model routes through that source;
- ``|pred| / knockout``: the share of the source's message that the SNP removes.

and, for the source encoder: positions per 10 kb at which each filter is above its threshold
(both strands) on uniform random sequence, and its threshold.

    python benchmarks/distal_sizes.py RUN_DIR EVAL_DIR
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from qtlgraph.gnn.distal_data import BinSequences
from qtlgraph.gnn.distal_effects import pair_outputs
from qtlgraph.gnn.score_run import load_run, open_encoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a qtlgraph train --model distal run")
    ap.add_argument("eval_dir", help="the folder of its score-variants --evaluate-qtl output")
    args = ap.parse_args()
    run = load_run(args.run, "cpu")
    enc = open_encoder(run.config["data"]["embeddings"], "cpu")
    seqs = BinSequences(enc.sequence, enc.index)
    model, data = run.model.double().eval(), run.inputs.data
    cells, marks = run.inputs.cell_types, run.inputs.marks
    rows = pd.read_csv(f"{args.eval_dir}/qtl_eval.rows.tsv", sep="\t")
    rows = rows[(rows["comparison"] == "truth") & rows["reached"]]
    first = rows[rows["mark"] == marks[0]].reset_index(drop=True)
    nb = enc.index.n_bins
    targets = torch.tensor(
        [cells.index(c) * nb + b for c, b in zip(first.cell_type, first.target_bin)]
    )
    snp_bins = torch.tensor(first["snp_bin"].to_numpy())
    codes = torch.from_numpy(seqs.codes(first["snp_bin"].tolist()))
    with torch.no_grad():  # reference, then the SNP's bin all N
        both = pair_outputs(
            model,
            data,
            seqs,
            targets,
            snp_bins,
            torch.cat([codes, torch.full_like(codes, 4)]),
            copies=2,
        ).numpy()
    knockout = np.abs(both[: len(first)] - both[len(first) :])
    print(f"{args.run}: {len(first)} held-out causal variant x target rows")
    for k, mark in enumerate(marks):
        by = rows[rows["mark"] == mark].set_index(["cell_type", "variant_id", "target_bin"])
        at = by.loc[list(zip(first.cell_type, first.variant_id, first.target_bin))]
        true, pred = np.abs(at["value"].to_numpy()), np.abs(at["pred"].to_numpy())
        print(
            f"{mark}: median |pred|/|true| {np.median(pred / true):.3f}, "
            f"knockout/|true| {np.median(knockout[:, k] / true):.2f}, "
            f"|pred|/knockout {np.median(pred / knockout[:, k]):.3f}"
        )
    e = model.encoder
    rnd = torch.randint(
        0,
        4,
        (64, enc.index.bin_size),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(0),
    )
    kmers, grid = e.kmer_rows(rnd)
    with torch.no_grad():
        pre = e._lookup(e.tables(), kmers, grid)
    c = e.channels
    fire = (pre > 0).sum(1).double()
    per_10kb = ((fire[:, :c] + fire[:, c:]) * (10_000 / enc.index.bin_size)).median(0).values
    print(
        "positions above threshold per 10 kb of uniform random sequence, per filter:",
        per_10kb.numpy().astype(int).tolist(),
    )
    print("thresholds:", np.round(-e.bias.detach().numpy(), 2).tolist())


if __name__ == "__main__":
    main()
