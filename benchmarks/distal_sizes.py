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
(both strands) on uniform random sequence, and its threshold; at the held-out causal SNPs
that break a distal site (the simulator's ``delta_motif`` < 0), the best filter's score above
its threshold within 12 bp of the SNP on the reference and on the alternative allele.

    python benchmarks/distal_sizes.py RUN_DIR EVAL_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from qtlgraph.gnn.distal_effects import pair_outputs
from qtlgraph.gnn.distal_score import load_distal_model
from qtlgraph.gnn.score_eval import parse_variant_ids
from qtlgraph.manifest import load_dataset


def margins(encoder, codes: torch.Tensor, at: torch.Tensor, reach: int = 12) -> torch.Tensor:
    """Each filter's best pre-activation (score minus threshold, either strand) within
    ``reach`` bp of position ``at`` of each row. Shapes: ``(n, L)``, ``(n,)`` -> ``(n, C)``.
    """
    out = []
    for i in range(0, len(codes), 32):  # 32 bins of activations at a time
        kmers, grid = encoder.kmer_rows(codes[i : i + 32])
        with torch.no_grad():
            pre = encoder._lookup(encoder.tables(), kmers, grid)
        near = (at[i : i + 32, None] + torch.arange(-reach, reach + 1)).clamp(0, pre.shape[1] - 1)
        top = pre.gather(1, near[..., None].expand(-1, -1, pre.shape[2])).amax(1)
        out.append(torch.maximum(top[:, : encoder.channels], top[:, encoder.channels :]))
    return torch.cat(out)


def broken_site_margins(model, seqs, truth_dir: Path, ids) -> None:
    """Print the best filter's margin at breaking SNPs, reference and alternative."""
    t = pd.read_csv(truth_dir / "variants.tsv.gz", sep="\t")
    t = t[(t["role"] == "causal") & (t["delta_motif"] < 0) & t["variant_id"].isin(ids)]
    t = t.drop_duplicates("variant_id").reset_index(drop=True)
    v = parse_variant_ids(t["variant_id"])
    bins = t["snp_bin"].to_numpy()
    at = torch.from_numpy(v["pos"].to_numpy() - 1 - seqs.index.starts(bins))
    ref = torch.from_numpy(seqs.codes(bins))
    alt = ref.clone()
    alt[torch.arange(len(alt)), at] = torch.tensor(["ACGT".index(b) for b in v["alt"]]).to(alt)
    r, a = margins(model.encoder, ref, at), margins(model.encoder, alt, at)
    best = r.argmax(1, keepdim=True)
    r, a = r.gather(1, best)[:, 0].numpy(), a.gather(1, best)[:, 0].numpy()
    print(
        f"{len(t)} held-out causal SNPs that break a distal site: the best filter's score "
        f"above threshold within 12 bp, median {np.median(r):.2f} SD on the reference, "
        f"{np.median(a):.2f} on the alternative; {np.mean(a > 0):.0%} still above threshold"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a qtlgraph train --model distal run")
    ap.add_argument("eval_dir", help="the folder of its score-variants --evaluate-qtl output")
    args = ap.parse_args()
    config = json.loads((Path(args.run) / "config.json").read_text())
    model, inputs, seqs = load_distal_model(args.run, config, config["data"])
    model, data = model.double().eval(), inputs.data
    cells, marks = inputs.cell_types, inputs.marks
    rows = pd.read_csv(f"{args.eval_dir}/qtl_eval.rows.tsv", sep="\t")
    rows = rows[(rows["comparison"] == "truth") & rows["reached"]]
    first = rows[rows["mark"] == marks[0]].reset_index(drop=True)
    nb = int(data.num_nodes) // len(cells)
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
        (64, inputs.bin_size),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(0),
    )
    kmers, grid = e.kmer_rows(rnd)
    with torch.no_grad():
        pre = e._lookup(e.tables(), kmers, grid)
    c = e.channels
    fire = (pre > 0).sum(1).double()
    per_10kb = ((fire[:, :c] + fire[:, c:]) * (10_000 / inputs.bin_size)).median(0).values
    print(
        "positions above threshold per 10 kb of uniform random sequence, per filter:",
        per_10kb.numpy().astype(int).tolist(),
    )
    print("thresholds:", np.round(-e.bias.detach().numpy(), 2).tolist())
    truth = load_dataset(config["data"]["dataset"]).truth_dir
    broken_site_margins(model, seqs, Path(truth), set(rows["variant_id"]))


if __name__ == "__main__":
    main()
