"""Writing a simulated dataset: tracks, QTL tables, ground truth, manifest.

``write_dataset(root, seed, preset, distal)`` fills ``root`` (a staged directory) and
returns a summary dict that is also written to ``truth/model.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from qtlgraph.simulate import model as sim
from qtlgraph.simulate.links import LinkParams
from qtlgraph.simulate.qtl import Peaks, QtlParams, kernel_mean
from qtlgraph.simulate.sequence import MOTIFS
from qtlgraph.simulate.tables import ROLES, TableSpec, blueprint_text, table_rows
from qtlgraph.simulate.tracks import (
    MARKS,
    TrackParams,
    activity,
    bin_means,
    chrom_tracks,
    distal_weights,
    occurrence_counts,
)
from qtlgraph.simulate.write import (
    manifest_text,
    write_bigwig,
    write_chrom_sizes,
    write_fasta,
    write_gzip,
    write_table,
)


def track_gaps(rng, model: sim.Model, per_mb: float) -> np.ndarray:
    """N stretches plus short unmappable gaps (no data in any track)."""
    total = len(model.codes)
    n = rng.poisson(per_mb * total / 1e6)
    start = rng.integers(0, total, n)
    length = rng.integers(200, 3000, n)
    delta = np.zeros(total + 1, dtype=np.int64)
    np.add.at(delta, start, 1)
    np.add.at(delta, np.minimum(start + length, total), -1)
    return model.gaps | (np.cumsum(delta[:-1]) > 0)


def distal_amplitudes(model: sim.Model, p: TrackParams, distal: bool) -> np.ndarray:
    """``d_ck(t) = g_k sum_{l -> t, c in C_l} w_l S(s_l)``. Shapes: -> (C, n_marks, n_bins)."""
    links, n_bins = model.links, model.index.n_bins
    out = np.zeros((len(sim.CELL_TYPES), len(MARKS), n_bins))
    if not distal:
        return out
    contrib = links.weight * model.strength[links.source]
    for c in range(len(sim.CELL_TYPES)):
        per_t = np.bincount(links.target, weights=contrib * links.cells[:, c], minlength=n_bins)
        out[c] = np.asarray(p.distal_gain)[:, None] * per_t
    return out


def observed_tracks(
    rng, model, p: TrackParams, distal: bool, nan_mask, progress: bool, weights=None, counter=None
):
    """Observed tracks per chromosome, and per-bin truth (local, distal means).

    Args:
        rng: the noise generator.
        model: the drawn genome (:class:`qtlgraph.simulate.model.Model` or the realistic one).
        p: track parameters.
        distal: False switches the distal term off.
        nan_mask: (total,) bool, bases without data.
        progress: show a tqdm bar.
        weights: ``(acc_w (C, M), mark_w (n_marks, C, M))``; default the built-in motifs'.
        counter: ``counter(offset, n_steps, step) -> (M, S)`` occurrences per step of one
            chromosome; default :func:`occurrence_counts` of ``model.occurrences``.
    """
    layout, index = model.layout, model.index
    amp = distal_amplitudes(model, p, distal)
    anchor = np.zeros(index.n_bins, dtype=np.int64)
    anchor[model.links.target] = model.links.anchor
    if weights is None:
        acc_w = activity(sim.CELL_TYPES, p.acc_strength, p.off_target_activity)
        mark_w = np.stack(
            [activity(sim.CELL_TYPES, s, p.off_target_activity) for s in p.mark_strength]
        )
    else:
        acc_w, mark_w = weights
    if counter is None:

        def counter(off, n_steps, step):
            return occurrence_counts(model.occurrences, off, n_steps, step)

    observed, local, dist, positive = {}, [], [], np.zeros((2, 1 + len(MARKS), len(sim.CELL_TYPES)))
    for i, chrom in enumerate(tqdm(layout.chroms, desc="tracks", disable=not progress)):
        off, n = int(layout.offsets[i]), int(layout.lengths[i])
        n_steps = -(-n // p.step)
        counts = counter(off, n_steps, p.step)
        sl = index.chrom_slice(chrom)
        distal_at = np.zeros((len(sim.CELL_TYPES), len(MARKS), n_steps))
        bins = np.arange(sl.start, sl.stop)
        np.add.at(distal_at, (slice(None), slice(None), anchor[bins] // p.step), amp[:, :, bins])
        nan_steps = nan_mask[off + np.arange(n_steps) * p.step]
        tr = chrom_tracks(counts, distal_at, nan_steps, acc_w, mark_w, rng, p)
        observed[chrom] = tr
        local.append(bin_means(tr.local, nan_steps, index.bin_size // p.step))
        dist.append(bin_means(tr.distal, nan_steps, index.bin_size // p.step))
        for j, x in enumerate([tr.accessibility[:, None], tr.marks]):
            ok = ~nan_steps
            positive[0, j : j + x.shape[1]] += (x[..., ok] > 2).sum(axis=-1).T
            positive[1, j : j + x.shape[1]] += ok.sum()
    return observed, np.concatenate(local, -1), np.concatenate(dist, -1), positive


def write_tracks(root: Path, model: sim.Model, observed, p: TrackParams, progress: bool) -> None:
    (root / "tracks").mkdir()
    jobs = [(c, -1) for c in range(len(sim.CELL_TYPES))] + [
        (c, k) for c in range(len(sim.CELL_TYPES)) for k in range(len(MARKS))
    ]
    for c, k in tqdm(jobs, desc="bigWig", disable=not progress):
        name = "accessibility" if k < 0 else MARKS[k]
        data = {
            ch: (tr.accessibility[c] if k < 0 else tr.marks[c, k]) for ch, tr in observed.items()
        }
        write_bigwig(root / "tracks" / f"{sim.CELL_TYPES[c]}.{name}.bw", model.layout, data, p.step)


def peaks_of(model: sim.Model, q: QtlParams) -> Peaks:
    """Target peaks (one per target bin, at its anchor) then element peaks."""
    layout, index, links = model.layout, model.index, model.links
    targets, first = np.unique(links.target, return_index=True)
    t_chrom = index.chrom_of_bins(targets)
    e_chrom = np.searchsorted(layout.offsets, model.elements, side="right") - 1
    e_mid = model.elements - layout.offsets[e_chrom]
    mid = np.concatenate([links.anchor[first], e_mid])
    half = np.repeat([q.target_half_width, q.element_half_width], [len(targets), len(e_mid)])
    chrom = np.concatenate([t_chrom, e_chrom])
    return Peaks(
        chrom,
        np.maximum(mid - half, 0),
        np.minimum(mid + half, layout.lengths[chrom]),
        np.concatenate([targets, np.full(len(e_mid), -1)]),
    )


def truth_frame(rows: pd.DataFrame, c: int, k: int, peaks: Peaks) -> pd.DataFrame:
    """The ``truth/variants.tsv.gz`` rows of one table (cell type ``c``, mark ``k``)."""
    return pd.DataFrame(
        {
            "cell_type": sim.CELL_TYPES[c],
            "mark": MARKS[k],
            "variant_id": rows["variant_id"],
            "rsid": rows["rsid"],
            "phenotype_id": rows["phenotype_id"],
            "role": np.asarray(ROLES)[rows["role"].to_numpy()],
            "snp_bin": rows["bin"],
            "target_bin": peaks.target_bin[rows["peak"].to_numpy()],
            "link_weight": rows["link_weight"],
            "delta_motif": rows["delta"],
            "true_effect": rows["true_effect"],
            "qtl_mean": rows["qtl_mean"],
            "beta": rows["beta"],
            "se": rows["se"],
            "pvalue": rows["pvalue"],
            "fdr": rows["fdr"],
        }
    )


def add_target_effect(
    variants: pd.DataFrame, model, local: np.ndarray, dist: np.ndarray, p: TrackParams, q: QtlParams
) -> pd.DataFrame:
    """Add ``true_target_effect``: each row's true change of ``log1p`` of its target bin's
    noise-free mean, the unit the models predict (``true_effect`` is the change of the
    target *peak's* mean signal, the QTL phenotype's unit).

    A row's distal amplitude change is ``true_effect / kappa_k``; over the target bin it
    adds that times the bin mean of the unit peak at the target's anchor (the bin's distal
    mean over its amplitude). Rows without a target or effect get 0; a target bin without
    data gets NaN. ``local``, ``dist``: ``(C, n_marks, n_bins)`` noise-free bin means.
    """
    amp = distal_amplitudes(model, p, True)
    kappa = np.array([kernel_mean(s, q.target_half_width) for s in p.sigma_mark])
    c = pd.Index(sim.CELL_TYPES).get_indexer(variants["cell_type"])
    k = pd.Index(MARKS).get_indexer(variants["mark"])
    t = variants["target_bin"].to_numpy()
    e = variants["true_effect"].to_numpy(dtype=np.float64)
    out = np.zeros(len(variants))
    on = (t >= 0) & (e != 0)
    c, k, t, e = c[on], k[on], t[on], e[on]
    a, d = amp[c, k, t], dist[c, k, t]
    unit = np.divide(d, a, out=np.zeros_like(d), where=a > 0)
    m = local[c, k, t] + d
    out[on] = np.log1p(np.maximum(m + e / kappa[k] * unit, 0.0)) - np.log1p(m)
    variants = variants.copy()
    variants.insert(variants.columns.get_loc("true_effect") + 1, "true_target_effect", out)
    return variants


def _tables(
    root: Path,
    model: sim.Model,
    seed: int,
    distal: bool,
    p: TrackParams,
    q: QtlParams,
    progress: bool,
) -> pd.DataFrame:
    """Write one QTL table per cell type and mark; return the per-row truth."""
    (root / "qtl").mkdir()
    peaks = peaks_of(model, q)
    scale = sim.distal_scale(p, q)
    u = distal_weights(p)
    truth = []
    jobs = [(c, k) for c in range(len(sim.CELL_TYPES)) for k in range(len(MARKS))]
    for c, k in tqdm(jobs, desc="QTL tables", disable=not progress):
        rng = np.random.default_rng([seed, 1000 + 10 * c + k])
        rows = table_rows(
            rng,
            model.catalogue,
            model.links,
            peaks,
            TableSpec(c, scale[k], distal),
            model.codes,
            model.index,
            model.layout,
            model.covered,
            u,
            q,
        )
        rows, text = blueprint_text(rows, model.layout, peaks)
        write_gzip(root / "qtl" / f"{sim.CELL_TYPES[c]}_{MARKS[k]}.txt.gz", text)
        truth.append(truth_frame(rows, c, k, peaks))
    return pd.concat(truth, ignore_index=True)


def links_frame(model: sim.Model) -> pd.DataFrame:
    links, index, chroms = model.links, model.index, np.asarray(model.layout.chroms)
    names = np.asarray(sim.CELL_TYPES)
    cells = [",".join(names[row]) for row in links.cells]
    src_start = index.starts(links.source)
    return pd.DataFrame(
        {
            "source_bin": links.source,
            "target_bin": links.target,
            "source_chrom": chroms[index.chrom_of_bins(links.source)],
            "source_start": src_start,
            "target_chrom": chroms[index.chrom_of_bins(links.target)],
            "target_start": index.starts(links.target),
            "anchor": links.anchor,
            "distance_bp": links.anchor - (src_start + index.bin_size // 2),
            "cell_types": cells,
            "weight": links.weight,
            "source_strength": model.strength[links.source],
        }
    )


def bins_frame(model: sim.Model, local: np.ndarray, dist: np.ndarray) -> pd.DataFrame:
    index, links = model.index, model.links
    frame = index.to_frame()
    frame["chrom"] = frame["chrom"].astype(str)
    frame.insert(0, "bin", np.arange(index.n_bins))
    frame["in_degree"] = np.bincount(links.target, minlength=index.n_bins)
    frame["out_degree"] = np.bincount(links.source, minlength=index.n_bins)
    frame["source_strength"] = model.strength
    for c, cell in enumerate(sim.CELL_TYPES):
        for k, mark in enumerate(MARKS):
            frame[f"local_{cell}_{mark}"] = local[c, k]
            frame[f"distal_{cell}_{mark}"] = dist[c, k]
    return frame


def _motifs_frame(p: TrackParams) -> pd.DataFrame:
    acc = activity(sim.CELL_TYPES, p.acc_strength, p.off_target_activity)
    frame = pd.DataFrame([m._asdict() for m in MOTIFS])
    frame["distal_weight"] = distal_weights(p)
    for c, cell in enumerate(sim.CELL_TYPES):
        frame[f"accessibility_{cell}"] = acc[c]
    return frame


def _write_truth(root: Path, model: sim.Model, variants, local, dist, summary: dict, p) -> None:
    truth = root / "truth"
    truth.mkdir()
    write_table(truth / "links.tsv", links_frame(model))
    write_table(truth / "bins.tsv.gz", bins_frame(model, local, dist))
    write_table(truth / "variants.tsv.gz", variants)
    write_table(truth / "motifs.tsv", _motifs_frame(p))
    occ, layout = model.occurrences, model.layout
    chrom = np.searchsorted(layout.offsets, occ.start, side="right") - 1
    write_table(
        truth / "motif_instances.tsv.gz",
        pd.DataFrame(
            {
                "chrom": np.asarray(layout.chroms)[chrom],
                "start": occ.start - layout.offsets[chrom],
                "motif": np.asarray([m.name for m in MOTIFS])[occ.motif],
            }
        ),
    )
    (truth / "model.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def _summary(model: sim.Model, seed: int, preset, distal: bool, positive, variants) -> dict:
    links, n_bins = model.links, model.index.n_bins
    names = [f"{c}.{t}" for t in ("accessibility",) + MARKS for c in sim.CELL_TYPES]
    frac = (positive[0] / np.maximum(positive[1], 1)).reshape(-1)
    sig = variants[variants["fdr"] < 0.05]
    return {
        "seed": seed,
        "preset": preset._asdict(),
        "distal": distal,
        "bin_size": sim.BIN_SIZE,
        "params": {
            "tracks": TrackParams()._asdict(),
            "links": LinkParams()._asdict(),
            "qtl": QtlParams()._asdict(),
        },
        "n_bins": n_bins,
        "n_links": len(links.source),
        "target_fraction": len(np.unique(links.target)) / n_bins,
        "linked_fraction": len(np.union1d(links.source, links.target)) / n_bins,
        "max_in_degree": int(np.bincount(links.target).max()),
        "positive_fraction": dict(zip(names, np.round(frac, 5).tolist())),
        "qtl_rows": int(len(variants)),
        "qtl_rows_fdr05": int(len(sig)),
        "qtl_rows_fdr05_by_role": sig["role"].value_counts().sort_index().to_dict(),
    }


def write_dataset(root: Path, seed: int, preset, distal: bool, progress: bool = True) -> dict:
    """Fill ``root`` with the whole dataset; return the summary (also in truth/model.json)."""
    p, q = TrackParams(), QtlParams()
    model = sim.build_model(seed, preset)
    rng = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1]).spawn(2)]
    nan_mask = track_gaps(rng[0], model, preset.unmappable_per_mb)
    observed, local, dist, positive = observed_tracks(rng[1], model, p, distal, nan_mask, progress)
    write_tracks(root, model, observed, p, progress)
    del observed
    variants = _tables(root, model, seed, distal, p, q, progress)
    write_fasta(root / "genome.fa", model.codes, model.layout)
    write_chrom_sizes(root / "genome.chrom.sizes", model.layout)
    qtl_files = {(c, m): f"qtl/{c}_{m}.txt.gz" for c in sim.CELL_TYPES for m in MARKS}
    (root / "dataset.toml").write_text(manifest_text(preset.name, sim.CELL_TYPES, MARKS, qtl_files))
    variants = add_target_effect(variants, model, local, dist, p, q)
    summary = _summary(model, seed, preset, distal, positive, variants)
    _write_truth(root, model, variants, local, dist, summary, p)
    return summary
