"""Writing a ``realistic`` dataset: the same files as the other presets, plus
``truth/background.tsv`` (the isochore segments) and a ``causal`` / ``r2`` pair of
columns in ``truth/variants.tsv.gz``; ``truth/model.json`` records the background source
and the 8-mer enrichment rank of each distal motif's best word.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from qtlgraph.simulate import model as sim
from qtlgraph.simulate import output as out
from qtlgraph.simulate.background import resolve_source
from qtlgraph.simulate.ld import LdParams, ld_table_rows
from qtlgraph.simulate.links import LinkParams
from qtlgraph.simulate.pwm import best_kmer
from qtlgraph.simulate.qtl import QtlParams
from qtlgraph.simulate.realistic import ROLE_NAMES, Model, build_realistic
from qtlgraph.simulate.tables import TableSpec, blueprint_text
from qtlgraph.simulate.tracks import MARKS, TrackParams
from qtlgraph.simulate.words import word_code, word_ranks
from qtlgraph.simulate.write import (
    manifest_text,
    write_chrom_sizes,
    write_fasta,
    write_gzip,
    write_table,
)


def role_weights(model: Model, p: TrackParams) -> tuple[np.ndarray, np.ndarray]:
    """``A`` (C, M) and ``H`` (n_marks, C, M) from the drawn roles (as the built-in motifs')."""
    n_cells = len(sim.CELL_TYPES)
    own = model.cell_of[None, :] == np.arange(n_cells)[:, None]

    def weights(strength: dict) -> np.ndarray:
        cell = strength["cell"] * np.where(own, 1.0, p.off_target_activity)
        w = np.where(model.role == 0, strength["local"], 0.0) + np.where(model.role == 1, cell, 0.0)
        return np.broadcast_to(w, (n_cells, len(model.motifs))).copy()

    return weights(p.acc_strength), np.stack([weights(s) for s in p.mark_strength])


def hit_counts(model: Model):
    """``counter(offset, n_steps, step)``: occurrences per step by site centre. -> (M, S)."""
    width = np.array([m.width for m in model.motifs])
    centre = model.occurrences.start + width[model.occurrences.motif] // 2
    n_m = len(model.motifs)

    def counter(off: int, n_steps: int, step: int) -> np.ndarray:
        sel = (centre >= off) & (centre < off + n_steps * step)
        where = (centre[sel] - off) // step
        flat = np.bincount(model.occurrences.motif[sel] * n_steps + where, minlength=n_m * n_steps)
        return flat.reshape(n_m, n_steps).astype(np.float64)

    return counter


def kmer_ranks(model: Model, k: int = 8) -> dict[str, int]:
    """Rank of each distal motif's best ``k``-mer among the genome's over-represented words
    (:func:`qtlgraph.simulate.words.word_ranks`; 1 = most over-represented).
    """
    ranks = word_ranks(model.codes, model.layout, model.index.bin_size, k)
    return {
        model.motifs[i].name: int(ranks[word_code(best_kmer(model.motifs[i], k)[0])])
        for i in np.flatnonzero(model.role == 2)
    }


def _tables(root: Path, model: Model, seed: int, distal: bool, p, q, progress) -> pd.DataFrame:
    (root / "qtl").mkdir()
    peaks = out.peaks_of(model, q)
    scale = sim.distal_scale(p, q)
    truth = []
    jobs = [(c, k) for c in range(len(sim.CELL_TYPES)) for k in range(len(MARKS))]
    for c, k in tqdm(jobs, desc="QTL tables", disable=not progress):
        rng = np.random.default_rng([seed, 2000 + 10 * c + k])
        spec = TableSpec(c, scale[k], distal)
        rows = ld_table_rows(rng, model.catalogue, model.links, peaks, spec, model, q)
        rows, text = blueprint_text(rows, model.layout, peaks)
        write_gzip(root / "qtl" / f"{sim.CELL_TYPES[c]}_{MARKS[k]}.txt.gz", text)
        frame = out.truth_frame(rows, c, k, peaks)
        frame["causal"] = (rows["role"] == 0).astype(int)
        frame["r2"] = rows["r2"]
        truth.append(frame)
    return pd.concat(truth, ignore_index=True)


def _motifs_frame(model: Model, ranks: dict, p: TrackParams) -> pd.DataFrame:
    acc, _ = role_weights(model, p)
    cells = np.asarray(sim.CELL_TYPES + ("",))
    frame = pd.DataFrame(
        {
            "name": [m.name for m in model.motifs],
            "matrix_id": [m.matrix_id for m in model.motifs],
            "kind": np.asarray(ROLE_NAMES)[model.role],
            "cell_type": cells[model.cell_of],
            "width": [m.width for m in model.motifs],
            "threshold_bits": [round(m.threshold, 2) for m in model.motifs],
            "best_8mer": [best_kmer(m)[0] for m in model.motifs],
            "kmer8_rank": [ranks.get(m.name, -1) for m in model.motifs],
            "distal_weight": model.weight,
        }
    )
    for c, cell in enumerate(sim.CELL_TYPES):
        frame[f"accessibility_{cell}"] = acc[c]
    return frame


def _background_frame(model: Model) -> pd.DataFrame:
    """The isochore segments, with the GC measured on the final sequence."""
    seg, layout, codes = model.segments, model.layout, model.codes
    chrom = np.searchsorted(layout.offsets, seg.start, side="right") - 1
    gc = np.add.reduceat(((codes == 1) | (codes == 2)).astype(np.int64), seg.start)
    acgt = np.add.reduceat((codes < 4).astype(np.int64), seg.start)
    return pd.DataFrame(
        {
            "chrom": np.asarray(layout.chroms)[chrom],
            "start": seg.start - layout.offsets[chrom],
            "global_start": seg.start,
            "global_end": seg.end,
            "source": np.where(seg.real, "hg38", "synthetic"),
            "gc_drawn": np.round(seg.gc, 4),
            "gc": np.round(gc / np.maximum(acgt, 1), 4),
        }
    )


def _write_truth(root, model: Model, variants, local, dist, summary, ranks, p) -> None:
    truth = root / "truth"
    truth.mkdir()
    write_table(truth / "links.tsv", out.links_frame(model))
    write_table(truth / "bins.tsv.gz", out.bins_frame(model, local, dist))
    write_table(truth / "variants.tsv.gz", variants)
    write_table(truth / "motifs.tsv", _motifs_frame(model, ranks, p))
    write_table(truth / "background.tsv", _background_frame(model))
    occ, layout = model.occurrences, model.layout
    chrom = np.searchsorted(layout.offsets, occ.start, side="right") - 1
    instances = pd.DataFrame(
        {
            "chrom": np.asarray(layout.chroms)[chrom],
            "start": occ.start - layout.offsets[chrom],
            "motif": np.asarray([m.name for m in model.motifs])[occ.motif],
            "score": np.round(occ.score, 3),
        }
    )
    write_table(truth / "motif_instances.tsv.gz", instances)
    (truth / "model.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def _summary(model: Model, seed, preset, distal, positive, variants, ranks, source) -> dict:
    links, n_bins = model.links, model.index.n_bins
    names = [f"{c}.{t}" for t in ("accessibility",) + MARKS for c in sim.CELL_TYPES]
    frac = (positive[0] / np.maximum(positive[1], 1)).reshape(-1)
    sig = variants[variants["fdr"] < 0.05]
    cat = model.catalogue
    return {
        "seed": seed,
        "preset": preset._asdict(),
        "distal": distal,
        "bin_size": sim.BIN_SIZE,
        "background_source": source,
        "params": {
            "tracks": TrackParams()._asdict(),
            "links": LinkParams()._asdict(),
            "qtl": QtlParams()._asdict(),
            "ld": LdParams()._asdict(),
        },
        "motifs": {m.name: ROLE_NAMES[r] for m, r in zip(model.motifs, model.role)},
        "distal_kmer8_rank": ranks,
        "n_bins": n_bins,
        "n_links": len(links.source),
        "n_clusters": int((cat.role == 0).sum()),
        "snps_per_cluster": round(len(cat.pos) / max(int((cat.role == 0).sum()), 1), 3),
        "target_fraction": len(np.unique(links.target)) / n_bins,
        "linked_fraction": len(np.union1d(links.source, links.target)) / n_bins,
        "max_in_degree": int(np.bincount(links.target).max()),
        "positive_fraction": dict(zip(names, np.round(frac, 5).tolist())),
        "qtl_rows": int(len(variants)),
        "qtl_rows_fdr05": int(len(sig)),
        "qtl_rows_fdr05_by_role": sig["role"].value_counts().sort_index().to_dict(),
    }


def write_realistic(
    root: Path,
    seed: int,
    preset,
    distal: bool,
    background: str = "auto",
    progress: bool = True,
    motifs=None,
) -> dict:
    """Fill ``root`` with a ``realistic`` dataset; return the summary (truth/model.json).

    ``motifs`` replaces the shipped matrices (:func:`qtlgraph.simulate.pwm.jaspar_motifs`).
    """
    p, q = TrackParams(), QtlParams()
    source, pieces = resolve_source(background)
    model = build_realistic(seed, preset, pieces, motifs)
    rng = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1]).spawn(2)]
    nan_mask = out.track_gaps(rng[0], model, preset.unmappable_per_mb)
    observed, local, dist, positive = out.observed_tracks(
        rng[1], model, p, distal, nan_mask, progress, role_weights(model, p), hit_counts(model)
    )
    out.write_tracks(root, model, observed, p, progress)
    del observed
    variants = _tables(root, model, seed, distal, p, q, progress)
    write_fasta(root / "genome.fa", model.codes, model.layout)
    write_chrom_sizes(root / "genome.chrom.sizes", model.layout)
    qtl_files = {(c, m): f"qtl/{c}_{m}.txt.gz" for c in sim.CELL_TYPES for m in MARKS}
    (root / "dataset.toml").write_text(manifest_text(preset.name, sim.CELL_TYPES, MARKS, qtl_files))
    variants = out.add_target_effect(variants, model, local, dist, p, q)
    ranks = kmer_ranks(model)
    summary = _summary(model, seed, preset, distal, positive, variants, ranks, source)
    _write_truth(root, model, variants, local, dist, summary, ranks, p)
    return summary
