"""What a distal run's predictions at QTL targets depend on in the source bin's DNA.

For training-chromosome QTL rows (each LD cluster's lead variant, as the QTL-effect loss
draws them) the run's change at the row's target and mark is computed for four edits of
the SNP's bin, each against the reference sequence, every in-edge of the target kept:

- ``snp``: the SNP's alternative base (what ``score-variants`` reports);
- ``site``: the 21 bp around the SNP set to N (whatever site the SNP sits in, removed);
- ``random``: the whole bin replaced by uniform random sequence (seed 0);
- ``all N``: the whole bin set to N (no filter can fire).

The median |change| of each, and its sign concordance and Spearman r with the rows' betas,
are printed. If ``random`` is far larger than ``site``, what a source sends rests mostly on
sequence other than the variant's site, and a SNP's predicted effect is small whatever the
truth.

    python benchmarks/distal_sensitivity.py --run RUN [--rows 400]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from qtlgraph.gnn.distal_aux import training_rows
from qtlgraph.gnn.distal_effects import pair_outputs
from qtlgraph.gnn.distal_score import load_distal_model

EDITS = ("snp", "site", "random", "all N")


def edits(rows, idx: torch.Tensor, ref: torch.Tensor, gen: torch.Generator) -> dict:
    """The four edited copies of the drawn rows' bins. Shapes: ``(n, L)`` uint8 each."""
    site = ref.clone()
    for i, o in enumerate(rows.offset[idx].tolist()):
        site[i, max(o - 10, 0) : o + 11] = 4
    rand = torch.randint(0, 4, ref.shape, generator=gen, dtype=torch.uint8)
    return dict(zip(EDITS, (rows.alt_codes(idx, ref), site, rand, torch.full_like(ref, 4))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a train --model distal run directory")
    parser.add_argument("--rows", type=int, default=400, help="QTL rows used (the first N)")
    args = parser.parse_args()
    config = json.loads((Path(args.run) / "config.json").read_text())
    model, inputs, seqs = load_distal_model(args.run, config, config["data"])
    model = model.double().eval()
    data = inputs.data
    rows = training_rows(config["data"], inputs, seqs)
    if rows is None:
        raise SystemExit(f"{args.run}: no training-chromosome QTL row qualifies")
    n = min(len(rows.target), args.rows)
    gen = torch.Generator().manual_seed(0)
    changes = {k: [] for k in EDITS}
    with torch.no_grad():
        for lo in range(0, n, 50):
            idx = torch.arange(lo, min(lo + 50, n))
            t, b, mark = rows.target[idx], rows.snp_bin[idx], rows.mark[idx][:, None]
            ref_codes = torch.from_numpy(seqs.codes(b.numpy()))
            ref = pair_outputs(model, data, seqs, t, b, ref_codes.clone())
            for name, codes in edits(rows, idx, ref_codes, gen).items():
                out = pair_outputs(model, data, seqs, t, b, codes)
                changes[name].append((out - ref).gather(1, mark)[:, 0])
    beta = rows.z[:n].numpy()
    print(f"{args.run}: {n} of {len(rows.target)} training QTL rows (lead variants)")
    print(f"{'edit':8s} {'median |change|':>16s} {'sign vs beta':>13s} {'Spearman':>9s}")
    for name in EDITS:
        d = torch.cat(changes[name]).numpy()
        sign = float(np.mean(np.sign(d) == np.sign(beta)))
        rho = spearmanr(d, beta)[0] if np.ptp(d) > 0 else float("nan")
        print(f"{name:8s} {np.median(np.abs(d)):16.2e} {sign:13.3f} {rho:9.3f}")


if __name__ == "__main__":
    main()
