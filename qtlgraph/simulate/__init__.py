"""The built-in simulated dataset: a genome with known distal effects, in real file formats.

``simulate(out, seed, preset)`` writes FASTA (+ .fai), per cell type an accessibility
bigWig and H3K27ac / H3K4me1 bigWigs, one BLUEPRINT-layout QTL table per cell type and
mark, ``dataset.toml``, ``genome.chrom.sizes`` and the ground truth under ``truth/``.
Modules: ``sequence`` (background, motifs), ``links`` (scale-free QTL links), ``qtl``
(QTL effects), ``tracks`` (signal), ``tables`` (QTL rows), ``model`` (presets and the
drawn genome), ``write`` (file writers), ``output`` / ``large`` (whole datasets), ``run``.
The ``realistic`` presets add ``pwm`` (JASPAR matrices, sampled sites, scans),
``background`` (isochores, repeats, hg38 pieces), ``ld`` (LD-clustered QTLs), ``words``
(8-mer over-representation), ``realistic`` (their genome) and ``realistic_output``.
"""

from qtlgraph.simulate.model import PRESETS, Preset, RealisticPreset
from qtlgraph.simulate.run import SimulationResult, simulate

__all__ = ["PRESETS", "Preset", "RealisticPreset", "SimulationResult", "simulate"]
