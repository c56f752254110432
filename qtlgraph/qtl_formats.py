"""The QTL table layouts qtlgraph reads, each mapped onto the canonical QTL table.

A :class:`Layout` says how a file looks (separator, header, column names) and how its
columns become the canonical columns (``docs/architecture.md``): ``snp_chrom, snp_pos``
(1-based), ``target_chrom, target_start, target_end`` (0-based half-open), ``pvalue, fdr,
beta, se, variant_id, phenotype_id``. The mapping is a polars expression over a lazy
frame, so a threshold on ``pvalue``/``fdr`` is pushed down before any string parsing.

Conventions per layout (what each column means is the layout's documented meaning):

- ``blueprint``: ``chr:pos_ref_alt`` gives the SNP; the peak ``chr:start:end`` is taken as
  a BED interval ``[start, end)``; ``fdr`` = the FDR column.
- ``blueprint-reformatted``: ``CHR BP`` give the SNP, ``PHENOTYPEID`` the peak as above,
  ``fdr`` = ``LFDR``; there are no p-values (``pvalue`` null).
- ``qtltools-nominal`` / ``qtltools-permutation``: phenotype ``[phe_from - 1, phe_to)``;
  nominal output has no FDR; permutation output uses ``adj_beta_pval`` (the
  beta-approximated permutation p-value per phenotype) as its best FDR equivalent.
- ``tensorqtl``: SNP parsed from ``variant_id`` (``chr1_123_A_G_b38`` or ``chr1:123:A:G``);
  target from ``--phenotypes`` or else the TSS ``pos - start_distance``; no FDR.
- ``gtex-egenes``: target = TSS (``gene_start`` on +, ``gene_end`` on -); ``fdr`` = ``qval``.
- ``gtex-pairs``: target from the gene columns when present, else ``--phenotypes``, else
  the TSS ``variant_pos - tss_distance``; no FDR (``qval`` used where present).
- ``eqtlcatalogue``: target from ``--phenotypes`` (metadata, ``phenotype_pos`` = TSS);
  permuted files use ``p_beta`` as the FDR equivalent, nominal files have none.
- ``generic``: a ``--columns`` mapping (see :data:`GENERIC_KEYS`).

The shared pieces are in :mod:`qtlgraph.qtl_layout`, the layouts one module per format
family (``qtl_blueprint``, ``qtl_qtltools``, ``qtl_gtex``, ``qtl_eqtlcatalogue``,
``qtl_generic``); this module gathers them into :data:`LAYOUTS`, :data:`FORMATS` and
:data:`REQUIRED`.
"""

from __future__ import annotations

from qtlgraph.qtl_blueprint import BLUEPRINT, BLUEPRINT_REQUIRED
from qtlgraph.qtl_eqtlcatalogue import EQTLCATALOGUE, EQTLCATALOGUE_REQUIRED
from qtlgraph.qtl_generic import GENERIC_KEYS, generic_layout
from qtlgraph.qtl_gtex import GTEX, GTEX_REQUIRED
from qtlgraph.qtl_layout import CANONICAL, Context, F, Layout
from qtlgraph.qtl_qtltools import QTLTOOLS, QTLTOOLS_REQUIRED

__all__ = [
    "CANONICAL",
    "F",
    "FORMATS",
    "GENERIC_KEYS",
    "LAYOUTS",
    "REQUIRED",
    "Context",
    "Layout",
    "generic_layout",
]

LAYOUTS: dict[str, Layout] = {**BLUEPRINT, **QTLTOOLS, **GTEX, **EQTLCATALOGUE}
FORMATS = ("auto",) + tuple(LAYOUTS) + ("generic",)
# columns a layout cannot do without (the others it reads when present)
REQUIRED = {
    **BLUEPRINT_REQUIRED,
    **GTEX_REQUIRED,
    **EQTLCATALOGUE_REQUIRED,
    **QTLTOOLS_REQUIRED,
}
