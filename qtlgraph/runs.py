"""Run directories: one life cycle for every trainer, one fingerprint for every consumer.

A run directory holds ``config.json`` (with a ``fingerprint`` of what the run depends on),
``checkpoint.pt``, ``results.json`` and ``run.json`` (``{"kind", "finished"}``; ``finished``
becomes true last, after ``results.json``). Every trainer (``train-local``, ``train``,
``train-unet``, the distal trainer) goes through the same three calls::

    from qtlgraph import runs

    fp = {"dataset": runs.dataset_fingerprint(manifest, ds),
          "genome": runs.genome_fingerprint(ds.genome, bin_size)}
    config = {..., "fingerprint": fp}
    runs.prepare(out, config, resume=resume, force=force, epochs=epochs)  # checks only
    with runs.started(out, config, kind="local", fresh=not resume):
        history = fit(...)          # rank 0 wrote config.json + run.json; checkpoint.pt per epoch
        runs.finish(out, results)   # rank 0: results.json, then run.json "finished": true

:func:`prepare` writes nothing. Without ``resume`` it refuses a non-empty ``out`` unless
``force``; with ``resume`` it requires ``out/checkpoint.pt`` and applies the one resume
rule: every key of the checkpoint's config (nested keys flattened as ``a.b``) must equal
the new config's, except :data:`FREE_KEYS` (the epochs, ``run``, ``versions``); the new
``epochs`` may not be below the epochs already done. A refusal is one line naming the key,
the stored value and the new one. :func:`started` removes a fresh run directory again when
the run fails before its first checkpoint, so a corrected rerun is not refused.

Consumers (``embed``, ``train``, ``score-variants``, ``export-bigwig``, ``export-edges``,
``rf``, ``compare``) call :func:`check_run` (:func:`require_finished`: refuses an
unfinished run unless ``allow_unfinished``; :func:`verify_inputs`: the dataset files,
graphs and embedding cache the run recorded are unchanged), :func:`check_same` (two
fingerprints must agree; the line names both sides) and, before training on graphs and an
embedding cache, :func:`graph_inputs_fingerprint` (all index the dataset's bins).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qtlgraph.errors import InputError
from qtlgraph.outputs import check_output_dir, check_writable
from qtlgraph.runtime import is_rank_zero, load_checkpoint, read_json, write_json

CONFIG, CHECKPOINT, RESULTS, RUN = "config.json", "checkpoint.pt", "results.json", "run.json"
#: config keys (dotted, with everything below them) that may change on resume: they change
#: neither the model nor the data (the epoch budget, the run's name, package versions)
FREE_KEYS = frozenset({"epochs", "options.epochs", "training.epochs", "run", "versions"})


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one ``{"a.b.c": leaf}`` dict (lists and scalars are leaves)."""
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def differences(old: dict, new: dict, free: frozenset = FREE_KEYS) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every flattened key that differs, free keys (and the keys
    below them) skipped.

    A key missing on one side reads as ``"<absent>"``; lists and tuples compare alike;
    ``model`` and ``manifest`` come first (the most telling), then the keys in order.
    """
    a, b = flatten(old), flatten(new)
    rows = []
    for key in sorted(set(a) | set(b), key=lambda k: (k not in ("model", "kind", "manifest"), k)):
        parts = key.split(".")
        if any(".".join(parts[: i + 1]) in free for i in range(len(parts))):
            continue
        x, y = a.get(key, "<absent>"), b.get(key, "<absent>")
        if _plain(x) != _plain(y):
            rows.append((key, x, y))
    return rows


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _short(value: Any, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def describe(diff: list[tuple[str, Any, Any]], old_side: str, new_side: str) -> str:
    """One line: the first difference in full, then how many more and their keys."""
    key, x, y = diff[0]
    line = f"{key} is {_short(x)} in {old_side} but {_short(y)} in {new_side}"
    if len(diff) > 1:
        more = ", ".join(k for k, _, _ in diff[1:4]) + (", ..." if len(diff) > 4 else "")
        line += f" (and {len(diff) - 1} more: {more})"
    return line


# --- trainers ---------------------------------------------------------------------------


def prepare(
    out: str | Path,
    config: dict,
    *,
    resume: bool,
    force: bool,
    epochs: int | None = None,
) -> int:
    """Check that ``out`` may receive this run; write nothing.

    Args:
        out: the run directory.
        config: the new run's full config (as it will be written to ``config.json``).
        resume: continue ``out/checkpoint.pt``; its config must match (the resume rule).
        force: replace a non-empty ``out`` (ignored with ``resume``).
        epochs: the new total epochs; refused below the epochs already done.

    Returns:
        the epochs the checkpoint has done (0 for a fresh run).
    """
    out = check_out(out, resume=resume, force=force)
    if not resume:
        return 0
    path = out / CHECKPOINT
    ckpt = load_checkpoint(path)
    stored = ckpt.get("config") if isinstance(ckpt, dict) else None
    if not isinstance(stored, dict):
        raise InputError(f"{path}: the checkpoint holds no run config; rerun without --resume")
    diff = differences(stored, config)
    if diff:
        raise InputError(f"{out}: cannot resume: {describe(diff, 'the checkpoint', 'this run')}")
    done = int(ckpt.get("epoch", 0))
    if epochs is not None and epochs < done:
        raise InputError(
            f"{out}: cannot resume with --epochs {epochs}: the checkpoint has {done} epochs "
            f"done (give --epochs {done} or more)"
        )
    return done


def check_out(out: str | Path, *, resume: bool, force: bool) -> Path:
    """The cheap part of :func:`prepare`, to call before loading any input.

    ``out`` must be a writable directory that is empty (or ``force``), or hold a
    checkpoint (``resume``).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if resume and not (out / CHECKPOINT).is_file():
        raise InputError(f"{out}: nothing to resume (no {CHECKPOINT}); rerun without --resume")
    if not resume:
        check_output_dir(out, force)
    check_writable(out)
    return out


@contextlib.contextmanager
def started(out: str | Path, config: dict, *, kind: str, fresh: bool) -> Iterator[Path]:
    """Write ``config.json`` and an unfinished ``run.json`` (rank 0), then run the body.

    A ``fresh`` run (not resumed) replaces whatever ``out`` held (:func:`prepare` allowed
    it) and, when the body fails before the first checkpoint, is removed again.
    """
    out = Path(out)
    if is_rank_zero():
        if fresh and out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / CONFIG, config)
        write_json(out / RUN, {"kind": kind, "finished": False})
    try:
        yield out
    except BaseException:
        if fresh and is_rank_zero() and not (out / CHECKPOINT).is_file():
            shutil.rmtree(out, ignore_errors=True)
        raise


def finish(out: str | Path, results: dict) -> None:
    """Write ``results.json``, then mark the run finished in ``run.json`` (rank 0)."""
    if not is_rank_zero():
        return
    write_json(Path(out) / RESULTS, results)
    mark_finished(out)


def mark_finished(out: str | Path) -> None:
    """Set ``finished`` in ``run.json`` (rank 0), for trainers that write results themselves."""
    if not is_rank_zero():
        return
    path = Path(out) / RUN
    run = read_json(path) if path.is_file() else {}
    write_json(path, {**run, "finished": True})


# --- consumers --------------------------------------------------------------------------


def is_finished(run_dir: str | Path) -> bool:
    """``run.json`` says finished; a run without ``run.json`` counts when it has results."""
    run_dir = Path(run_dir)
    if (run_dir / RUN).is_file():
        return bool(read_json(run_dir / RUN).get("finished"))
    return (run_dir / RESULTS).is_file()


def require_finished(run_dir: str | Path, allow_unfinished: bool = False) -> dict:
    """The run's ``config.json``, refusing a run that never finished unless allowed."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise InputError(f"{run_dir}: not a run directory (no {CONFIG})")
    config = read_json(run_dir / CONFIG)
    if not isinstance(config, dict):
        raise InputError(f"{run_dir / CONFIG}: expected a JSON object")
    if not allow_unfinished and not is_finished(run_dir):
        raise InputError(
            f"{run_dir}: the run did not finish (interrupted or still training); finish it "
            "with --resume, or pass --allow-unfinished to use its last checkpoint"
        )
    return config


def check_same(what: str, left: str, a: dict | None, right: str, b: dict | None) -> None:
    """Refuse when fingerprints ``a`` (of ``left``) and ``b`` (of ``right``) differ.

    A side without a fingerprint (``None``: made before fingerprints) is not compared.
    """
    if a is None or b is None:
        return
    diff = differences(a, b, frozenset())
    if diff:
        raise InputError(f"{what} differs: {describe(diff, left, right)}")


def check_run(run_dir: str | Path, allow_unfinished: bool = False) -> dict:
    """A run fit to consume: finished (unless allowed) and its inputs unchanged since.

    Returns:
        the run's ``config.json``.
    """
    config = require_finished(run_dir, allow_unfinished)
    verify_inputs(run_dir, config.get("fingerprint"))
    return config


def verify_inputs(run_dir: str | Path, fingerprint: dict | None) -> None:
    """Refuse when a run's dataset files, graphs or embedding cache changed since it ran."""
    if not fingerprint:
        return
    verify_dataset(run_dir, fingerprint)
    made = f"{run_dir} (when it ran)"
    for cell, graph in (fingerprint.get("graphs") or {}).items():
        now = graph_fingerprint(graph["path"])
        check_same(f"graph of {cell}", made, graph, f"{graph['path']} now", now)
    emb = fingerprint.get("embeddings")
    if emb and emb.get("path"):
        now = embeddings_fingerprint(emb["path"])
        check_same("embedding cache", made, emb, f"{emb['path']} now", now)


def run_fingerprint(run_dir: str | Path) -> dict | None:
    """The ``fingerprint`` in a run's ``config.json`` (None for runs made before them)."""
    path = Path(run_dir) / CONFIG
    return read_json(path).get("fingerprint") if path.is_file() else None


def verify_dataset(run_dir: str | Path, fingerprint: dict | None) -> None:
    """Refuse when the dataset files a run (or cache) recorded changed since it was made."""
    ds = (fingerprint or {}).get("dataset")
    if not ds or not ds.get("manifest"):
        return
    now = {"manifest": ds["manifest"], "files": file_stamps(ds["manifest"], ds.get("files", {}))}
    check_same("dataset", f"{run_dir} (when made)", ds, "the files now", now)


# --- fingerprints -----------------------------------------------------------------------


def file_stamps(manifest: str | Path, names) -> dict[str, list[int]]:
    """``{name: [size, mtime_ns]}`` of files named relative to the manifest's folder."""
    root = Path(manifest).parent
    out = {}
    for name in names:
        try:
            st = os.stat(root / name)
            out[name] = [int(st.st_size), int(st.st_mtime_ns)]
        except OSError:
            out[name] = [-1, -1]
    return out


def _dataset_files(ds) -> list[Path]:
    files = [ds.fasta, *(ds.onehot or {}).values()]
    for cell in ds.cell_types:
        files += [cell.accessibility, *cell.marks.values(), *cell.qtl.values()]
    return [Path(f) for f in files if f is not None]


def dataset_fingerprint(manifest: str | Path, ds) -> dict:
    """The manifest's absolute path and ``[size, mtime_ns]`` of it and every file it names.

    Args:
        manifest: the TOML file.
        ds: its :class:`qtlgraph.manifest.Dataset`.
    """
    manifest = Path(manifest).absolute()
    names = [manifest.name]
    for f in _dataset_files(ds):
        names.append(os.path.relpath(f, manifest.parent))
    return {"manifest": str(manifest), "files": file_stamps(manifest, sorted(set(names)))}


def genome_fingerprint(genome, bin_size: int) -> dict:
    """Chromosomes in order with their lengths, and the bin size: what bin ids mean."""
    return {
        "chroms": list(genome.chroms),
        "lengths": [int(n) for n in genome.lengths],
        "bin_size": int(bin_size),
    }


def graph_fingerprint(graph_dir: str | Path) -> dict:
    """A graph directory's bins (from ``build.json``) and a digest of ``build.json``."""
    path = Path(graph_dir) / "build.json"
    meta = read_json(path)
    genome = meta.get("genome") if isinstance(meta, dict) else None
    if not isinstance(genome, dict) or "bin_size" not in meta:
        raise InputError(f"{path}: expected a qtlgraph build.json (genome, bin_size)")
    return {
        "path": str(Path(graph_dir).absolute()),
        "genome": {
            "chroms": list(genome.get("chroms", [])),
            "lengths": [int(n) for n in genome.get("lengths", [])],
            "bin_size": int(meta["bin_size"]),
        },
        "build_json": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
    }


def embeddings_fingerprint(embed_dir: str | Path) -> dict:
    """An embedding cache: its source run and the fingerprint that run recorded."""
    meta = read_json(Path(embed_dir) / "embed.json")
    return {
        "path": str(Path(embed_dir).absolute()),
        "run": meta.get("run"),
        "source": meta.get("fingerprint"),
    }


def graph_inputs_fingerprint(manifest: str | Path, graph_specs, embed_dir: str | Path) -> dict:
    """Check that a dataset, its graphs and an embedding cache index the same bins.

    Every graph's ``build.json`` genome (chromosomes in order, lengths, bin size) must be
    the dataset's; the cache must come from a run on this dataset (same manifest and
    files). Refusals name both sides. Which graph serves which cell type is left to the
    loader (:func:`qtlgraph.gnn.data.match_graph_dirs`); every graph given is checked.

    Args:
        manifest: the dataset TOML.
        graph_specs: the ``--graph`` values, ``CELL=DIR`` or ``DIR``.
        embed_dir: a ``qtlgraph embed`` cache.

    Returns:
        ``{"dataset", "genome", "graphs": {cell or dir: ...}, "embeddings"}`` for
        ``config.json``.
    """
    from qtlgraph.manifest import load_dataset

    ds = load_dataset(manifest)
    meta = read_json(Path(embed_dir) / "embed.json")
    genome = genome_fingerprint(ds.genome, int(meta.get("bin_size", 10_000)))
    dataset = dataset_fingerprint(manifest, ds)
    graphs = {}
    for spec in graph_specs:
        cell, sep, path = str(spec).partition("=")
        path = path if sep else cell
        graphs[cell if sep else str(path)] = fp = graph_fingerprint(path)
        left = f"graph {path} (build.json)"
        check_same("genome bins", left, fp["genome"], f"dataset {manifest}", genome)
    emb = embeddings_fingerprint(embed_dir)
    source = emb["source"] or {}
    left = f"embeddings {embed_dir} (made by run {emb['run']})"
    check_same("genome bins", left, source.get("genome"), f"dataset {manifest}", genome)
    check_same("dataset", left, source.get("dataset"), f"--dataset {manifest}", dataset)
    return {"dataset": dataset, "genome": genome, "graphs": graphs, "embeddings": emb}
