"""Benchmark: ``qtlgraph build`` end to end against a minimal polars reference pipeline.

Generates an N-row QTL table in the BLUEPRINT layout (plain and gzip; hg38 autosomes,
SNPs within 1 Mb of their peak, FDR uniform on [0, 0.2] so about a quarter pass 0.05),
then for each file runs, each in its own process:

- the reference: polars read -> FDR < 0.05 -> parse ``chr:pos_ref_alt`` and
  ``chr:start:end`` -> bin -> group-by counting of connected and binned per target bin
  (its time is measured inside the process, without interpreter start-up);
- ``qtlgraph build FILE --genome hg38`` as a subprocess, timed end to end.

Prints wall times, the ratio, each process's peak RSS (``/usr/bin/time``), and asserts the
connected/binned counts per bin are identical.

    python benchmarks/bench_build.py --rows 1000000      # quick
    python benchmarks/bench_build.py                     # 10 M rows, a few minutes
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

TIME_TARGET, TIME_FLOOR = 1.0, 1.2  # build wall time / the reference's, same run
RSS_TARGET_MB = 1229  # 1.2 GB


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write a BLUEPRINT-layout table (no header, space-separated, no ``chr`` prefix)."""
    from qtlgraph.genome import load_genome

    genome = load_genome("hg38")
    rng = np.random.default_rng(seed)
    autosomes = [i for i, c in enumerate(genome.chroms) if c != "chrX"]
    lengths = np.asarray(genome.lengths, np.int64)[autosomes]
    n_peaks = max(rows // 40, 1)
    peak_chrom = rng.choice(len(autosomes), n_peaks, p=lengths / lengths.sum())
    peak_len = lengths[peak_chrom]
    peak_start = (rng.random(n_peaks) * (peak_len - 3_000_000)).astype(np.int64) + 1_000_000
    peak_end = peak_start + rng.integers(200, 4000, n_peaks)
    which = np.minimum(rng.zipf(1.6, rows) - 1, n_peaks - 1)  # a few hub peaks
    which = rng.permutation(n_peaks)[which]
    mid1 = (peak_start[which] + peak_end[which] - 1) // 2 + 1
    snp = mid1 + rng.integers(-990_000, 990_000, rows)
    names = np.asarray([genome.chroms[a][3:] for a in autosomes])
    raw = pl.DataFrame(
        {
            "c": names[peak_chrom[which]],
            "pos": snp,
            "s": peak_start[which],
            "e": peak_end[which],
            "i": np.arange(rows),
        }
    )
    df = raw.select(
        pl.concat_str([pl.col("c"), pl.lit(":"), pl.col("pos"), pl.lit("_A_G")]).alias("snp"),
        pl.concat_str([pl.lit("rs"), pl.col("i")]).alias("rsid"),
        pl.concat_str([pl.col("c"), pl.lit(":"), pl.col("s"), pl.lit(":"), pl.col("e")]).alias(
            "phenotype"
        ),
    ).with_columns(
        pvalue=pl.Series(rng.random(rows) ** 3),
        beta=pl.Series(rng.normal(0, 0.3, rows)),
        bonferroni=pl.lit(1.0),
        fdr=pl.Series(rng.uniform(0, 0.2, rows)),
        alt_af=pl.Series(rng.uniform(0.05, 0.5, rows)),
        se=pl.Series(rng.uniform(0.05, 0.3, rows)),
    )
    df.write_csv(
        path,
        separator=" ",
        include_header=False,
        quote_style="never",
        float_scientific=True,
        float_precision=4,
    )


def reference(path: Path) -> dict:
    """The minimal pipeline; returns its time and per-bin counts (non-zero bins only)."""
    from qtlgraph.genome import BinIndex, canonical_chrom, load_genome

    index = BinIndex(load_genome("hg38"), 10_000)
    t0 = time.perf_counter()
    df = pl.read_csv(
        path,
        separator=" ",
        has_header=False,
        columns=[0, 2, 6],
        schema_overrides={"column_6": pl.Float64},
        quote_char=None,
    )
    df = df.rename(dict(zip(df.columns, ["snp", "phenotype", "fdr"])))
    df = df.filter(pl.col("fdr") < 0.05)
    s = pl.col("snp").str.split_exact(":", 1)
    p = pl.col("phenotype").str.split_exact(":", 2)
    df = df.select(
        s.struct.field("field_0").alias("chrom"),
        s.struct.field("field_1")
        .str.split_exact("_", 1)
        .struct.field("field_0")
        .cast(pl.Int64)
        .alias("pos"),
        p.struct.field("field_1").cast(pl.Int64).alias("start"),
        p.struct.field("field_2").cast(pl.Int64).alias("end"),
    )
    offsets = {c: int(index.offsets[i]) for i, c in enumerate(index.chroms)}
    mapping = {u: offsets[canonical_chrom(u)] for u in df["chrom"].unique().to_list()}
    off = pl.col("chrom").replace_strict(mapping, return_dtype=pl.Int64)
    df = df.select(
        (off + (pl.col("pos") - 1) // 10_000).alias("src"),
        (off + (pl.col("start") + pl.col("end") - 1) // 2 // 10_000).alias("tgt"),
    )
    counts = (
        df.group_by("tgt")
        .agg(pl.len().alias("connected"), pl.col("src").n_unique().alias("binned"))
        .sort("tgt")
    )
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "tgt": counts["tgt"].to_list(),
        "connected": counts["connected"].to_list(),
        "binned": counts["binned"].to_list(),
    }


def _timed(cmd: list[str]) -> tuple[float, float, int, bytes]:
    """Run a command; wall seconds, CPU seconds (user + sys), peak RSS in MB, stdout.

    The RSS comes from ``/usr/bin/time -f %M`` where present: a child forked straight from
    this (large) process would report this process's memory as its own peak.
    """
    timer = Path("/usr/bin/time")
    full = [str(timer), "-f", "maxrss_kb=%M cpu_s=%U+%S", *cmd] if timer.exists() else cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, capture_output=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.decode()[-2000:]}")
    lines = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("maxrss_kb=")]
    if lines:
        rss, cpu = lines[-1].split()
        rss_kb = int(rss.split("=")[1])
        cpu_s = sum(float(x) for x in cpu.split("=")[1].split("+"))
    else:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        rss_kb, cpu_s = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    return wall, cpu_s, rss_kb // 1024, proc.stdout


def compare(path: Path, out: Path, repeat: int) -> dict:
    """Reference and build alternately ``repeat`` times; the fastest run of each counts."""
    cmd = [
        sys.executable,
        "-m",
        "qtlgraph",
        "build",
        str(path),
        "--genome",
        "hg38",
        "--out",
        str(out),
        "--force",
        "--quiet",
    ]
    refs, builds = [], []
    for _ in range(repeat):
        refs.append(_timed([sys.executable, __file__, "--reference", str(path)]))
        builds.append(_timed(cmd))
    ref_wall, ref_cpu, ref_rss, ref_out = min(refs, key=lambda r: r[0])
    ref = json.loads(ref_out)
    ref["seconds"] = min(json.loads(r[3])["seconds"] for r in refs)
    wall, cpu, rss, _ = min(builds, key=lambda r: r[0])
    rss = max(b[2] for b in builds)
    deg = pl.read_csv(out / "degrees.tsv.gz", separator="\t").with_row_index("tgt")
    deg = deg.filter(pl.col("connected") > 0)
    assert deg["tgt"].to_list() == ref["tgt"], "target bins differ from the reference"
    assert deg["connected"].to_list() == ref["connected"], "connected counts differ"
    assert deg["binned"].to_list() == ref["binned"], "binned counts differ"
    return {
        "file": path.name,
        "reference_s": round(ref["seconds"], 2),
        "reference_process_s": round(ref_wall, 2),
        "reference_cpu_s": round(ref_cpu, 2),
        "reference_rss_mb": ref_rss,
        "build_s": round(wall, 2),
        "build_cpu_s": round(cpu, 2),
        "build_rss_mb": rss,
        "ratio": round(wall / ref["seconds"], 2),
        "ratio_process": round(wall / ref_wall, 2),
        "ratio_cpu": round(cpu / ref_cpu, 2),
        "kept": int(deg["connected"].sum()),
        "target_bins": deg.height,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts")
    ap.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        print(json.dumps(reference(args.reference)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    plain = args.out / f"blueprint_{args.rows}.txt"
    if not plain.exists():
        t0 = time.perf_counter()
        generate(plain, args.rows)
        subprocess.run(["gzip", "-1", "-k", "-f", str(plain)], check=True)
        print(f"generated {args.rows} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results = [
        compare(p, args.out / f"graph_{p.name}", args.repeat)
        for p in (plain, plain.with_name(plain.name + ".gz"))
    ]
    for r in results:
        print(json.dumps(r))
        time_ok = (
            "met"
            if r["ratio"] <= TIME_TARGET
            else "within floor"
            if r["ratio"] <= TIME_FLOOR
            else "OVER"
        )
        rss_ok = "met" if r["build_rss_mb"] <= RSS_TARGET_MB else "OVER"
        print(
            f"{r['file']}: build {r['build_s']} s vs reference {r['reference_s']} s "
            f"-> ratio {r['ratio']} (target <= {TIME_TARGET}, floor {TIME_FLOOR}) [{time_ok}] "
            f"(vs the reference process {r['reference_process_s']} s: {r['ratio_process']}; "
            f"CPU time ratio {r['ratio_cpu']}); peak RSS {r['build_rss_mb']} MB "
            f"(target <= {RSS_TARGET_MB}) [{rss_ok}]; counts identical over "
            f"{r['target_bins']} bins"
        )


if __name__ == "__main__":
    main()
