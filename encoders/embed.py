"""Embed every bin of a genome, per cell type, into a resumable memory-mapped cache.

The cache (docs/architecture.md, "Embedding cache") is a directory with
``embeddings.npy`` (a ``.npy`` memmap of shape ``(n_cell_types, n_bins, d)``, float16 or
float32) and ``embed.json``. Bins are processed in fixed chunks of consecutive bins; after
each chunk the array is flushed and ``done_chunks`` is rewritten atomically, so a
resumed run skips finished chunks and ends byte-identical to an uninterrupted one.
``complete: true`` in ``embed.json`` is the completion marker, written last.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from qtlgraph import runs
from qtlgraph.encoders.bin_dataset import BinArrays, load_bin_arrays, sequence_codes
from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig
from qtlgraph.encoders.kmer_stem import first_block, lookup_applies, lookup_table
from qtlgraph.errors import InputError
from qtlgraph.genome import BinIndex

ARRAY, META = "embeddings.npy", "embed.json"
BF16_TOLERANCE = 0.05  # max |bf16 - fp32| on the unit-scale (LayerNorm) embedding


class EmbedResult(NamedTuple):
    out: Path
    n_chunks: int
    done_chunks: int
    complete: bool
    precision: str
    seconds: float


def load_local_model(
    run_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[BinEncoder, dict]:
    """Rebuild a trained local model from its run directory (config.json + checkpoint.pt)."""
    from qtlgraph.runtime import load_checkpoint, read_json

    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    if config.get("model") != "local" or "encoder" not in config:
        raise InputError(
            f"{run_dir / 'config.json'}: not a local-model run (model={config.get('model')!r})"
        )
    model = BinEncoder(BinEncoderConfig.from_dict(config["encoder"]))
    model.load_state_dict(load_checkpoint(run_dir / "checkpoint.pt")["model"])
    return model.to(device).eval(), config


def fold_batchnorm(model: BinEncoder) -> BinEncoder:
    """An eval-mode copy with every BatchNorm folded into the convolution before it.

    In a block conv -> (average pool) -> BatchNorm, the norm is a per-channel affine map
    after linear steps, so it becomes the convolution's weight scale and bias (a bias
    passes through average pooling unchanged). Same outputs up to float rounding, one
    pass over the activations fewer per block.
    """
    import copy

    folded = copy.deepcopy(model).eval()
    for block in folded.modules():
        if not isinstance(block, nn.Sequential):
            continue
        convs = [i for i, m in enumerate(block) if isinstance(m, nn.Conv1d)]
        norms = [i for i, m in enumerate(block) if isinstance(m, nn.BatchNorm1d)]
        if len(convs) != 1 or len(norms) != 1:
            continue
        conv, bn = block[convs[0]], block[norms[0]]
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = bn.bias - bn.running_mean * scale
            if conv.bias is not None:
                bias = bias + conv.bias * scale
            conv.weight.mul_(scale.view(-1, 1, 1))
            conv.bias = nn.Parameter(bias)
        block[norms[0]] = nn.Identity()
    return folded


def stem_table(model: BinEncoder) -> torch.Tensor | None:
    """The first sequence block as a lookup table (:mod:`qtlgraph.encoders.kmer_stem`), or None
    when its shape does not allow one.
    """
    block = model.seq_stem[0]
    with torch.no_grad():
        return lookup_table(block) if lookup_applies(block) else None


def embed_batch(
    model: BinEncoder,
    inputs: tuple[torch.Tensor, ...],
    precision: str = "fp32",
    table: torch.Tensor | None = None,
) -> torch.Tensor:
    """Embeddings of one batch in inference mode, bf16 autocast when asked.

    The sequence may come as base codes (B, L) uint8: then the first block is evaluated
    by table lookup where the model allows (``table`` from :func:`stem_table`, computed
    here when not given), else from the one-hot built here.

    Shapes:
        inputs: (seq (B, 4, L) float or (B, L) uint8, acc (B, P)[, flank (B, F)]) -> (B, d) float32.
    """
    device = next(model.parameters()).device
    seq, rest = inputs[0], tuple(x.to(device) for x in inputs[1:])
    codes = seq.dim() == 2
    if codes and table is None:
        table = stem_table(model)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"),
    ):
        if codes and table is not None:
            first = first_block(model.seq_stem[0], seq.to(device), table)
        else:
            first = model.first(seq.to(device))
        return model.embed_from_first(first, *rest).float().cpu()


def bf16_error(model: BinEncoder, inputs: tuple[torch.Tensor, ...]) -> float:
    """Largest absolute difference between bf16-autocast and fp32 embeddings of a batch."""
    return float(
        (embed_batch(model, inputs, "bf16") - embed_batch(model, inputs, "fp32")).abs().max()
    )


def _chunk_inputs(arrays: BinArrays, cell: int, codes: np.ndarray, bins: np.ndarray, sl: slice):
    from qtlgraph.encoders.access_rows import access_batch

    acc, flank = access_batch(arrays, cell, bins[sl])
    return tuple(torch.from_numpy(x) for x in (codes[sl], acc, flank) if x is not None)


def embed_chunk(
    model: BinEncoder,
    arrays: BinArrays,
    codes: np.ndarray,
    bins: np.ndarray,
    batch_size: int,
    precision: str,
) -> np.ndarray:
    """Embeddings of a chunk of bins for every cell type.

    Shapes:
        codes: (N, bin_size) uint8; bins: (N,) -> (n_cell_types, N, d) float32.
    """
    out = np.empty((len(arrays.cell_types), len(bins), model.config.dim), dtype=np.float32)
    table = stem_table(model)
    for c in range(len(arrays.cell_types)):
        for lo in range(0, len(bins), batch_size):
            sl = slice(lo, lo + batch_size)
            out[c, sl] = embed_batch(
                model, _chunk_inputs(arrays, c, codes, bins, sl), precision, table
            ).numpy()
    return out


def _write_meta(out: Path, meta: dict) -> None:
    from qtlgraph.runtime import write_json

    write_json(out / META, meta)


def _open_cache(out: Path, meta: dict, resume: bool, force: bool) -> dict:
    """Check a cache to resume, or create an empty one; its ``embed.json`` contents."""
    from qtlgraph.outputs import check_output_dir
    from qtlgraph.runtime import read_json

    keys = ("run", "cell_types", "n_bins", "d", "dtype", "chunk_bins", "bin_size")
    if resume and (out / META).is_file() and (out / ARRAY).is_file():
        old = read_json(out / META)
        diff = [k for k in keys if old.get(k) != meta[k]]
        if diff:
            raise InputError(
                f"{out / META}: cannot resume, it differs in {diff} (rerun without --resume)"
            )
        return old
    if out.exists() and not resume and force:
        shutil.rmtree(out)
    elif out.exists() and any(out.iterdir()):
        check_output_dir(out, force=False)
    out.mkdir(parents=True, exist_ok=True)
    shape = (len(meta["cell_types"]), meta["n_bins"], meta["d"])
    empty = np.lib.format.open_memmap(out / ARRAY, mode="w+", dtype=meta["dtype"], shape=shape)
    del empty  # the file, of its final shape; chunks are written into it as they are done
    _write_meta(out, meta)
    return meta


def _choose_precision(
    model: BinEncoder, arrays: BinArrays, sequence, index: BinIndex, precision: str
) -> tuple[str, float | None]:
    """``auto``: bf16 on a CUDA device that supports it when the first bins' embeddings
    agree with fp32 within ``BF16_TOLERANCE``, else fp32. On the CPU it is fp32, as for
    training (:func:`qtlgraph.encoders.train.autocast_for`): bf16 autocast there took 2.3
    times as long as fp32 on a 2-core machine without bf16 instructions.
    """
    import torch

    if precision != "auto":
        return precision, None
    device = next(model.parameters()).device
    if device.type != "cuda" or not torch.cuda.is_bf16_supported():
        return "fp32", None
    bins = np.unique(
        np.linspace(0, index.n_bins - 1, 64).astype(np.int64)
    )  # spread, not the leading Ns
    err = bf16_error(
        model, _chunk_inputs(arrays, 0, sequence_codes(sequence, index, bins), bins, slice(None))
    )
    return ("bf16" if err <= BF16_TOLERANCE else "fp32"), err


def embed_genome(
    run_dir: str | Path,
    out: str | Path,
    *,
    batch_size: int = 256,
    device: str = "cpu",
    resume: bool = False,
    force: bool = False,
    dtype: str = "float16",
    precision: str = "auto",
    chunk_bins: int = 4096,
    stop_after: int | None = None,
    allow_unfinished: bool = False,
) -> EmbedResult:
    """Embed every bin of the run's genome for every cell type into ``out``.

    Args:
        run_dir: a ``qtlgraph train-local`` run (config.json names the dataset manifest).
        out: the cache directory (refused when not empty, unless ``resume`` or ``force``).
        batch_size: bins per forward pass.
        device: ``cpu``, ``cuda`` or ``auto``.
        resume: continue a cache, skipping its finished chunks.
        force: replace a non-empty ``out``.
        dtype: ``float16`` or ``float32`` storage.
        precision: ``fp32``, ``bf16`` (autocast) or ``auto`` (on CUDA, bf16 when its embeddings of
            the first bins agree with fp32 within ``BF16_TOLERANCE``). Kept in embed.json, so
            a resumed run computes the same way.
        chunk_bins: bins per chunk (the unit of resume).
        stop_after: stop after this many new chunks (simulates an interruption).
        allow_unfinished: embed with the last checkpoint of a run that did not finish.
    """
    from qtlgraph.manifest import load_dataset
    from qtlgraph.outputs import check_output_dir, check_writable
    from qtlgraph.runtime import select_device
    from qtlgraph.sequence import open_sequence

    _check_options(dtype, precision, batch_size, chunk_bins)
    t0 = time.perf_counter()
    out = Path(out)
    if not resume:
        check_output_dir(out, force)
    check_writable(out)
    runs.require_finished(run_dir, allow_unfinished)
    fingerprint = runs.run_fingerprint(run_dir)
    runs.verify_dataset(run_dir, fingerprint)
    model, config = load_local_model(run_dir, select_device(device))
    model = fold_batchnorm(model)
    dataset = load_dataset(config["dataset"])
    index = BinIndex(dataset.genome, model.config.bin_size)
    arrays = load_bin_arrays(dataset, index, model.config, targets=False)
    sequence = open_sequence(dataset)
    meta = {
        "run": str(Path(run_dir).absolute()),
        "cell_types": list(arrays.cell_types),
        "bin_size": index.bin_size,
        "genome": {
            "name": dataset.genome.name,
            "chroms": list(index.chroms),
            "lengths": list(dataset.genome.lengths),
        },
        "n_bins": index.n_bins,
        "d": model.config.dim,
        "dtype": dtype,
        "chunk_bins": chunk_bins,
        "done_chunks": [],
        "complete": False,
        "fingerprint": fingerprint,
    }
    if resume and (out / META).is_file():
        precision = _stored_precision(out, precision)
    precision, err = _choose_precision(model, arrays, sequence, index, precision)
    meta.update(precision=precision, bf16_max_abs_error=err)
    meta = _open_cache(out, meta, resume, force)
    n_chunks = -(-index.n_bins // chunk_bins)
    _run_chunks(model, arrays, sequence, index, meta, out, batch_size, stop_after)
    meta["complete"] = len(meta["done_chunks"]) == n_chunks
    if meta["complete"]:
        _write_meta(out, meta)
    return EmbedResult(
        out,
        n_chunks,
        len(meta["done_chunks"]),
        meta["complete"],
        meta["precision"],
        time.perf_counter() - t0,
    )


def _check_options(dtype: str, precision: str, batch_size: int, chunk_bins: int) -> None:
    if dtype not in ("float16", "float32"):
        raise InputError(f"--dtype {dtype}: expected float16 or float32")
    if precision not in ("auto", "fp32", "bf16"):
        raise InputError(f"--precision {precision}: expected auto, fp32 or bf16")
    if batch_size < 1 or chunk_bins < 1:
        raise InputError("batch size and chunk size must be positive")


def _run_chunks(
    model,
    arrays: BinArrays,
    sequence,
    index: BinIndex,
    meta: dict,
    out: Path,
    batch_size: int,
    stop_after: int | None,
) -> None:
    """Embed the chunks not yet done, flushing the array and recording each chunk as done."""
    from tqdm.auto import tqdm

    chunk_bins = meta["chunk_bins"]
    n_chunks = -(-index.n_bins // chunk_bins)
    done = set(meta["done_chunks"])
    todo = [k for k in range(n_chunks) if k not in done][:stop_after]
    for k in tqdm(todo, desc="embedding chunks", disable=None, initial=len(done), total=n_chunks):
        bins = np.arange(k * chunk_bins, min(index.n_bins, (k + 1) * chunk_bins))
        codes = sequence_codes(sequence, index, bins)
        vectors = embed_chunk(model, arrays, codes, bins, batch_size, meta["precision"])
        array = np.load(out / ARRAY, mmap_mode="r+")  # mapped per chunk: written pages
        array[:, bins[0] : bins[-1] + 1] = vectors  # leave this process with the mapping
        array.flush()
        del array
        done.add(k)
        meta["done_chunks"] = sorted(done)
        _write_meta(out, meta)


def _stored_precision(out: Path, asked: str) -> str:
    from qtlgraph.runtime import read_json

    stored = read_json(out / META).get("precision", asked)
    if asked not in ("auto", stored):
        raise InputError(f"{out / META}: cache was computed with precision {stored}, not {asked}")
    return stored


def open_embeddings(out: str | Path) -> tuple[np.ndarray, dict]:
    """A finished cache: the read-only memmap (n_cell_types, n_bins, d) and its embed.json."""
    from qtlgraph.runtime import read_json

    out = Path(out)
    meta = read_json(out / META)
    if not meta.get("complete"):
        raise InputError(
            f"{out}: embedding cache is incomplete; rerun qtlgraph embed with --resume"
        )
    try:
        array = np.load(out / ARRAY, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{out / ARRAY}: not a readable .npy array (truncated or corrupt: {exc})"
        ) from None
    expected = (len(meta.get("cell_types", [])), meta.get("n_bins"), meta.get("d"))
    if array.shape != expected:
        raise InputError(
            f"{out / ARRAY}: shape {array.shape}, embed.json says {expected} "
            "(truncated or replaced)"
        )
    return array, meta
