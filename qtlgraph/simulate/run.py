"""``simulate(out, seed, preset)``: write one simulated dataset, small or genome-hosted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

from qtlgraph.errors import InputError
from qtlgraph.outputs import staged_dir
from qtlgraph.simulate.background import BACKGROUNDS
from qtlgraph.simulate.large import write_hosted
from qtlgraph.simulate.model import PRESETS, RealisticPreset
from qtlgraph.simulate.output import write_dataset
from qtlgraph.simulate.pwm import best_kmer, jaspar_motifs
from qtlgraph.simulate.realistic_output import write_realistic


class SimulationResult(NamedTuple):
    out: Path
    n_bins: int
    n_links: int
    n_files: int
    n_bytes: int
    target_fraction: float  # bins with at least one incoming link
    linked_fraction: float  # bins that are a link source or target
    positive_fraction: dict  # track name -> fraction of bases with signal > 2
    seconds: float


def _jaspar(ids: str | None, preset) -> tuple | None:
    """The ``--jaspar`` matrices (None: the shipped ones), checked before anything is written."""
    if ids is None:
        return None
    if not isinstance(preset, RealisticPreset):
        raise InputError(f"--jaspar: only the realistic presets use matrices, not {preset.name!r}")
    names = [i.strip() for i in ids.split(",") if i.strip()]
    need = preset.n_distal + 3
    if len(names) < need:
        raise InputError(f"--jaspar: expected at least {need} matrix IDs, got {len(names)}")
    motifs = jaspar_motifs(names)
    for m in motifs:
        best_kmer(m)  # an InputError names a matrix shorter than 8
    return motifs


def simulate(
    out: str | Path,
    seed: int = 0,
    preset: str = "demo",
    distal: bool = True,
    force: bool = False,
    progress: bool = True,
    background: str = "auto",
    jaspar: str | None = None,
) -> SimulationResult:
    """Write a complete simulated dataset to ``out`` (refused if non-empty without ``force``).

    Args:
        out: output directory, written atomically.
        seed: the seed; the same seed gives the same bytes.
        preset: ``tiny`` (~2.5 Mb, tests), ``demo`` (~16 Mb), ``small`` (~100 Mb),
            ``large`` (hg38 chr1-22, X: 303,114 bins, ~93 Mb of simulated content in one
            block per chromosome, the rest N; see :mod:`qtlgraph.simulate.large`),
            ``realistic`` (the demo's genome with JASPAR sites, a composed background and
            LD-clustered QTLs) and ``realistic-tiny`` (the same at the tiny size).
        distal: False switches the distal term off (same sequence, links and QTL tables).
        force: replace a non-empty ``out``.
        progress: show a tqdm bar on stderr.
        background: ``realistic`` presets only: ``auto`` (hg38 pieces where present,
            else synthetic), ``hg38`` (required) or ``synthetic``. Same seed and source,
            same bytes; ``truth/model.json`` records the source used.
        jaspar: ``realistic`` presets only: comma-separated JASPAR 2024 matrix IDs
            (``MA0080,MA0466,...``, at least 5, each 8 or more positions) read through the
            optional ``pyjaspar`` instead of the shipped matrices.
    """
    if preset not in PRESETS:
        raise InputError(f"--preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    if background not in BACKGROUNDS:
        raise InputError(
            f"--background: expected one of {', '.join(BACKGROUNDS)}, got {background!r}"
        )
    if int(seed) < 0:
        raise InputError(f"--seed: expected a non-negative integer, got {seed}")
    t0 = time.perf_counter()
    chosen = PRESETS[preset]
    motifs = _jaspar(jaspar, chosen)
    with staged_dir(out, force) as tmp:
        if isinstance(chosen, RealisticPreset):
            summary = write_realistic(tmp, int(seed), chosen, distal, background, progress, motifs)
        elif chosen.host is None:
            summary = write_dataset(tmp, int(seed), chosen, distal, progress)
        else:
            summary = write_hosted(tmp, int(seed), chosen, distal, progress)
    files = [f for f in Path(out).rglob("*") if f.is_file()]
    return SimulationResult(
        Path(out),
        summary["n_bins"],
        summary["n_links"],
        len(files),
        sum(f.stat().st_size for f in files),
        summary["target_fraction"],
        summary["linked_fraction"],
        summary["positive_fraction"],
        time.perf_counter() - t0,
    )
