"""Evaluating variant scores against QTL betas (held-out chromosomes) and simulated truth.

A QTL row (cell type, mark, variant, target) gets the predicted change of its mark at its
target bin in its cell type (0 when the target is not downstream of the variant's bin
within the model's hops). Metrics: sign concordance among rows whose prediction is not
zero, Spearman over all rows and over reached rows. See docs/variant-scoring.md for what
is circular in this comparison and what is not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qtlgraph.errors import InputError

_ID = (
    r"^(?:chr)?(?P<chrom>[^:_]+)[:_](?P<pos>\d+)"
    r"[:_](?P<ref>[ACGTNacgtn]+)[:_/](?P<alt>[ACGTNacgtn]+)$"
)


def parse_variant_ids(ids: pd.Series, where: str = "variant_id") -> pd.DataFrame:
    """``chrom:pos_ref_alt`` / ``chrom_pos_ref_alt`` / ``chrom:pos:ref:alt`` -> a frame.

    The frame has ``chrom, pos, ref, alt, id``.

    Raises:
        InputError: naming the first id without alleles.
    """
    parts = ids.astype(str).str.extract(_ID)
    bad = np.flatnonzero(parts["pos"].isna().to_numpy())
    if bad.size:
        raise InputError(
            f"{where}: row {bad[0] + 1}: {ids.iloc[bad[0]]!r} does not name the alleles "
            "(expected chrom:pos_ref_alt); score this table with --variants instead"
        )
    return pd.DataFrame(
        {
            "chrom": "chr" + parts["chrom"].str.removeprefix("chr"),
            "pos": parts["pos"].astype(np.int64),
            "ref": parts["ref"].str.upper(),
            "alt": parts["alt"].str.upper(),
            "id": ids.astype(str).to_numpy(),
        }
    )


def qtl_rows(dataset, index, part: str = "test", fdr: float = 0.05) -> pd.DataFrame:
    """QTL rows with FDR < ``fdr`` whose SNP lies on the split's ``part`` chromosomes.

    Returns:
        ``cell_type, mark, variant_id, snp_bin, target_bin, value, pvalue`` (``value`` =
        beta; ``pvalue`` NaN where the table has none).
    """
    from qtlgraph.genome import canonical_chrom
    from qtlgraph.qtl import read_qtl

    chroms = set(dataset.split.chroms(dataset.genome, part))
    frames = []
    for cell in dataset.cell_types:
        for mark, path in cell.qtl.items():
            q = read_qtl(path, cell.qtl_format or "auto").to_pandas()
            q["snp_chrom"] = (
                q["snp_chrom"].astype(str).map(canonical_chrom)
            )  # not every reader adds "chr"
            q = q[(q["fdr"] < fdr) & q["snp_chrom"].isin(chroms) & q["beta"].notna()]
            mid = (q["target_start"].to_numpy(np.int64) + q["target_end"].to_numpy(np.int64)) // 2
            frames.append(
                pd.DataFrame(
                    {
                        "cell_type": cell.name,
                        "mark": mark,
                        "variant_id": q["variant_id"].to_numpy(),
                        "snp_bin": index.bin_of(
                            index.chrom_codes(q["snp_chrom"]),
                            q["snp_pos"].to_numpy(),
                            one_based=True,
                        ),
                        "target_bin": index.bin_of(
                            index.chrom_codes(q["target_chrom"]), mid, one_based=False
                        ),
                        "value": q["beta"].to_numpy(np.float64),
                        "pvalue": (
                            q["pvalue"].to_numpy(np.float64)
                            if "pvalue" in q
                            else np.full(len(q), np.nan)
                        ),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def truth_rows(truth_dir: str | Path, dataset, index, part: str = "test") -> pd.DataFrame:
    """Causal SNP -> linked target rows of a simulated dataset, ``value`` = true effect.

    ``value`` is ``true_target_effect`` (the change of the target bin's ``log1p`` mean, the
    unit the models predict) where the truth has it; datasets simulated before that column
    existed give ``true_effect`` (the target peak's mean signal), whose sizes are not
    comparable with predictions (signs and ranks are).
    """
    path = Path(truth_dir) / "variants.tsv.gz"
    if not path.is_file():
        raise InputError(f"{path}: no simulated truth (only qtlgraph simulate datasets have one)")
    t = pd.read_csv(path, sep="\t")
    t = t[(t["role"] == "causal") & (t["target_bin"] >= 0)]
    chroms = set(dataset.split.chroms(dataset.genome, part))
    snp_chrom = np.asarray(index.chroms, dtype=object)[index.chrom_of_bins(t["snp_bin"].to_numpy())]
    t = t[np.isin(snp_chrom, list(chroms))]
    return pd.DataFrame(
        {
            "cell_type": t["cell_type"].to_numpy(),
            "mark": t["mark"].to_numpy(),
            "variant_id": t["variant_id"].to_numpy(),
            "snp_bin": t["snp_bin"].to_numpy(),
            "target_bin": t["target_bin"].to_numpy(),
            "value": t[
                "true_target_effect" if "true_target_effect" in t.columns else "true_effect"
            ].to_numpy(),
        }
    )


def attach_predictions(rows: pd.DataFrame, effects: pd.DataFrame, marks) -> pd.DataFrame:
    """Add ``pred`` (the mark's change at the row's target bin; 0 where not reached) and
    ``reached`` to evaluation rows.
    """
    long = effects.melt(
        id_vars=["variant_id", "cell_type", "bin"],
        value_vars=[f"delta_{m}" for m in marks],
        var_name="mark",
        value_name="pred",
    )
    long["mark"] = long["mark"].str.removeprefix("delta_")
    out = rows.merge(
        long.rename(columns={"bin": "target_bin"}),
        how="left",
        on=["variant_id", "cell_type", "mark", "target_bin"],
    )
    out["reached"] = out["pred"].notna()
    out["pred"] = out["pred"].fillna(0.0)
    return out


def concordance_metrics(rows: pd.DataFrame, label: str) -> list[dict]:
    """Per mark and over all marks: ``n``, ``n_reached``, ``sign_concordance`` (rows with a
    non-zero prediction and value), ``spearman`` (all rows), ``spearman_reached``,
    ``median_abs_ratio`` (median of ``|pred| / |value|`` over the concordance rows).
    """
    from qtlgraph.metrics import spearman

    out = []
    groups = [(m, g) for m, g in rows.groupby("mark", sort=True)] + [("all", rows)]
    for mark, g in groups:
        r = g[g["reached"]]
        s = r[(r["pred"] != 0) & (r["value"] != 0)]
        conc = float(np.mean(np.sign(s["pred"]) == np.sign(s["value"]))) if len(s) else float("nan")
        out.append(
            {
                "comparison": label,
                "mark": mark,
                "n": int(len(g)),
                "n_reached": int(len(r)),
                "sign_concordance": conc,
                "spearman": spearman(g["value"].to_numpy(), g["pred"].to_numpy())
                if len(g) > 2
                else float("nan"),
                "spearman_reached": spearman(r["value"].to_numpy(), r["pred"].to_numpy())
                if len(r) > 2
                else float("nan"),
                "median_abs_ratio": float(np.median(np.abs(s["pred"] / s["value"])))
                if len(s)
                else float("nan"),
            }
        )
    return out


def qtl_source(message: str, variants: pd.DataFrame, sets: dict, dataset) -> str:
    """Which QTL table gave the variant named in ``message`` (``variant CHROM:POS: ...``)."""
    import re

    found = re.search(r"variant (\S+?):(\d+)\b", message)
    if found:
        hit = variants[(variants["chrom"] == found[1]) & (variants["pos"] == int(found[2]))]
        rows = sets["qtl_beta"][sets["qtl_beta"]["variant_id"].isin(hit["id"])]
        if len(rows):
            cell, mark = rows.iloc[0]["cell_type"], rows.iloc[0]["mark"]
            return f"variant id from QTL table {dataset.cell_type(cell).qtl[mark]}"
    tables = [str(p) for c in dataset.cell_types for p in c.qtl.values()]
    return f"variant ids from the QTL tables {', '.join(tables)}"


def evaluate_run(
    run_dir: str | Path,
    *,
    part: str = "test",
    fdr: float = 0.05,
    distal_only: bool = True,
    device: str = "auto",
    batch_size: int = 64,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the QTL variants of the ``part`` chromosomes and compare with betas (and truth).

    Returns:
        ``(metrics, rows)``: one metrics row per comparison (``qtl_beta``, ``truth``) and
        mark; the scored evaluation rows with ``comparison, pred, reached``.
    """
    from qtlgraph.gnn.score_run import load_run, open_encoder, score_variants
    from qtlgraph.manifest import load_dataset

    run = load_run(run_dir, device)
    enc = open_encoder(run.config["data"]["embeddings"], run.device)
    ds = load_dataset(run.config["data"]["dataset"])
    sets = {"qtl_beta": qtl_rows(ds, enc.index, part, fdr)}
    if ds.truth_dir is not None:
        sets["truth"] = truth_rows(ds.truth_dir, ds, enc.index, part)
    if distal_only:
        sets = {k: v[v["target_bin"] != v["snp_bin"]] for k, v in sets.items()}
    ids = pd.concat([v["variant_id"] for v in sets.values()]).drop_duplicates()
    if not len(ids):
        raise InputError(
            f"{run_dir}: no QTL rows with FDR < {fdr} on the {part} chromosomes to score"
        )
    variants = parse_variant_ids(ids.reset_index(drop=True))
    try:
        effects = score_variants(
            run_dir, variants, batch_size=batch_size, attribute=False, run=run, encoder=enc
        ).effects
    except InputError as exc:  # name the QTL table the offending variant id came from
        raise InputError(f"{exc} ({qtl_source(str(exc), variants, sets, ds)})") from None
    scored, metrics = [], []
    for label, rows in sets.items():
        r = attach_predictions(rows, effects, run.inputs.marks).assign(comparison=label)
        scored.append(r)
        metrics += concordance_metrics(r, label)
    return pd.DataFrame(metrics), pd.concat(scored, ignore_index=True)
