"""Random corruptions of every input kind, fed to the command that reads it.

Each example must end in one of two ways: exit 0 with a valid output, or exit 2 with one
``error:`` line on stderr (a manifest's problems listed under it, as load_dataset reports
them all at once) and no output at all. Never another exit code, never a
traceback. Few examples and tiny inputs keep the whole file to about a minute.
"""

from __future__ import annotations

import gzip
import re
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtlgraph.cli import cli

SIZES = b"chr1\t100000\nchr2\t50000\n"
QTL = (
    b"1:15000_A_G rs1 1:52000:54000 1e-5 0.5 1 0.01 0.1 0.1\n"
    b"chr1:25000_G_A rs3 chr1:52000:54000 1e-3 0.2 1 0.03 0.1 0.1\n"
    b"2:5000_A_G rs6 2:41000:42000 1e-8 1.0 1 1e-6 0.1 0.1\n"
)
LOOPS = b"chr1\t10000\t20000\tchr1\t50000\t60000\nchr2\t0\t10000\tchr2\t30000\t40000\n"
TOKENS = ["", "inf", "-inf", "nan", "NaN", "-1", "-0.5", "1e999", "abc", "chrZ", "9" * 20, "\x00"]
KINDS = [
    "truncate",
    "flip",
    "nul",
    "bom",
    "gzip",
    "gzip_truncated",
    "empty",
    "binary",
    "field",
    "drop_line",
    "header_only",
]
SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def corrupt(draw, data: bytes) -> bytes:
    """One corruption of ``data``, drawn with hypothesis's ``draw``."""
    kind = draw(st.sampled_from(KINDS))
    n = max(len(data), 1)
    at = draw(st.integers(0, n - 1))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :] if data else b"\xff"
    if kind == "nul":
        return data[:at] + b"\x00" + data[at:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind in ("gzip", "gzip_truncated"):
        packed = gzip.compress(data)
        return packed if kind == "gzip" else packed[: draw(st.integers(0, len(packed) - 1))]
    if kind == "empty":
        return b""
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=200))
    lines = data.split(b"\n")
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "drop_line":
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if kind == "header_only":
        return lines[0] + b"\n"
    fields = re.split(rb"([\t ])", lines[i])
    j = draw(st.integers(0, max(len(fields) - 1, 0)))
    fields[j] = draw(st.sampled_from(TOKENS)).encode()
    lines[i] = b"".join(fields)
    return b"\n".join(lines)


def check(result, out: Path, valid) -> None:
    """Exit 0 and ``valid(out)``, or exit 2, one ``error:`` line and nothing at ``out``."""
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text, text
    if result.exit_code == 0:
        assert valid(out), text
        return
    assert result.exit_code == 2, (result.exit_code, text, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # one error; a manifest lists all its problems below it, one "  - " item each
    assert lines[0].startswith("error: ") and all(x.startswith("  - ") for x in lines[1:]), lines
    assert not out.exists(), f"{out} left behind after: {lines[0]}"


def invoke(args: list) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corrupt")


def fresh(work: Path) -> Path:
    path = work / uuid.uuid4().hex[:8]
    path.mkdir()
    return path


def _built(out: Path) -> bool:
    from qtlgraph.graph import load_graph_dir

    return load_graph_dir(out).data.num_nodes == 15  # 10 + 5 bins of 10 kb


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["qtl", "sizes", "loops"]))
def test_build_inputs(work, data, which):
    d = fresh(work)
    files = {"qtl": QTL, "sizes": SIZES, "loops": LOOPS}
    files[which] = corrupt(data.draw, files[which])
    for name, content in files.items():
        (d / name).write_bytes(content)
    out = d / "out"
    args = ["build", d / "qtl", "--genome", d / "sizes", "--loops", d / "loops", "--out", out]
    result = invoke([*args, "--quiet"])
    valid = (lambda o: (o / "build.json").is_file()) if which == "sizes" else _built
    check(result, out, valid)


def _absolute_manifest(tiny_pipeline) -> bytes:
    root = tiny_pipeline.dataset.parent
    text = tiny_pipeline.dataset.read_text()
    text = re.sub(r'"((?:tracks|qtl)/[^"]+|genome\.[^"]+|truth)"', rf'"{root}/\1"', text)
    return text.encode()


@SETTINGS
@given(data=st.data())
def test_manifest(work, tiny_pipeline, data):
    d = fresh(work)
    (d / "dataset.toml").write_bytes(corrupt(data.draw, _absolute_manifest(tiny_pipeline)))
    result = invoke(["check-dataset", d / "dataset.toml"])
    check(result, d / "nothing-written", lambda o: True)


@pytest.fixture(scope="module")
def gnn_run(tiny_pipeline, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corrupt_gnn") / "gnn"
    args = ["train", "--dataset", tiny_pipeline.dataset, *tiny_pipeline.graph_args()]
    args += ["--embeddings", tiny_pipeline.embeddings, "--out", out, "--epochs", "1"]
    result = invoke([*args, "--bootstrap", "2", "--kmer", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return out


def _copy_graph(tiny_pipeline, d: Path) -> Path:
    graph = d / "g"
    shutil.copytree(tiny_pipeline.graphs["mono"], graph)
    return graph


@SETTINGS
@given(data=st.data(), name=st.sampled_from(["degrees.tsv.gz", "graph.pt", "build.json"]))
def test_graph_directory_files(work, tiny_pipeline, data, name):
    d = fresh(work)
    graph = _copy_graph(tiny_pipeline, d)
    (graph / name).write_bytes(corrupt(data.draw, (graph / name).read_bytes()))
    if name == "degrees.tsv.gz":
        result, out = invoke(["degrees", graph, "--out", d / "deg"]), d / "deg"
        check(result, out, lambda o: (o / "summary.tsv").is_file())
    else:
        result, out = invoke(["export-edges", "--graph", graph, "--out", d / "e"]), d / "e"
        check(result, out, lambda o: (o / "observed.bedpe").is_file())


@SETTINGS
@given(data=st.data())
def test_encoder_checkpoint(work, tiny_pipeline, data):
    d = fresh(work)
    run = d / "enc"
    shutil.copytree(tiny_pipeline.root / "enc", run)
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes(corrupt(data.draw, ckpt.read_bytes()))
    out = d / "emb"
    result = invoke(["embed", "--run", run, "--out", out, "--device", "cpu", "--dtype", "float32"])
    check(result, out, lambda o: (o / "embed.json").is_file())


@pytest.fixture(scope="module")
def variants(tiny_pipeline) -> bytes:
    """Two variants whose ref alleles are the tiny genome's bases."""
    from qtlgraph.manifest import load_dataset
    from qtlgraph.sequence import open_sequence

    seq = open_sequence(load_dataset(tiny_pipeline.dataset))
    rows = []
    for chrom, pos in (("chr3", 200_001), ("chr2", 150_001)):
        ref = seq.fetch(chrom, pos - 1, pos)
        rows.append(f"{chrom}\t{pos}\t{ref}\t{'C' if ref != 'C' else 'G'}\n")
    return ("chrom\tpos\tref\talt\n" + "".join(rows)).encode()


@settings(SETTINGS, max_examples=4)
@given(data=st.data())
def test_variants_and_attribution(work, gnn_run, variants, data):
    d = fresh(work)
    (d / "v.tsv").write_bytes(corrupt(data.draw, variants))
    out = d / "scores.tsv"
    result = invoke(["score-variants", "--run", gnn_run, "--variants", d / "v.tsv", "--out", out])
    check(result, out, lambda o: o.is_file())
    attribution = (
        b"cell_type\tsource_bin\ttarget_bin\tedge_type\tcarried_H3K27ac\nmono\t1\t5\tH3K27ac\t0.5\n"
    )
    (d / "a.tsv").write_bytes(corrupt(data.draw, attribution))
    args = ["export-edges", "--attribution", d / "a.tsv", "--run", gnn_run, "--out", d / "e"]
    check(invoke(args), d / "e", lambda o: (o / "learned.bedpe").is_file())


@settings(SETTINGS, max_examples=3)
@given(data=st.data(), name=st.sampled_from(["embeddings.npy", "embed.json"]))
def test_embedding_cache(work, tiny_pipeline, data, name):
    d = fresh(work)
    emb = d / "emb"
    shutil.copytree(tiny_pipeline.embeddings, emb)
    (emb / name).write_bytes(corrupt(data.draw, (emb / name).read_bytes()))
    out = d / "gnn"
    args = ["train", "--dataset", tiny_pipeline.dataset, *tiny_pipeline.graph_args()]
    args += ["--embeddings", emb, "--out", out, "--epochs", "1", "--bootstrap", "2"]
    check(invoke([*args, "--kmer", "0", "--device", "cpu"]), out, _finished)


def _finished(out: Path) -> bool:
    from qtlgraph.runs import is_finished

    return is_finished(out) and (out / "bin_predictions.parquet").is_file()


def test_export_edges_name_must_stay_inside_out_and_empty_attribution(work, gnn_run):
    d = fresh(work)
    (d / "a.tsv").write_bytes(b"cell_type\tsource_bin\ttarget_bin\tedge_type\tcarried_H3K27ac\n")
    args = ["export-edges", "--attribution", d / "a.tsv", "--run", gnn_run, "--out", d / "e"]
    check(invoke(args), d / "e", lambda o: False)  # header only: refused
    (d / "a.tsv").write_bytes(b"")
    check(invoke(args), d / "e", lambda o: False)
    (d / "a.tsv").write_bytes(
        b"cell_type\tsource_bin\ttarget_bin\tedge_type\tcarried_H3K27ac\n"
        + b"mono\t1\t5\tH3K27ac\t0.5\n"
    )
    res = invoke([*args, "--name", "../../x"])
    check(res, d / "e", lambda o: False)
    assert "plain file name stem" in res.stderr and not (work / "x.bedpe").exists()
