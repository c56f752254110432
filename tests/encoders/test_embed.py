import numpy as np
import pytest
import torch
from tiny_bin_data import write_tiny_dataset

from qtlgraph.encoders.bin_dataset import load_bin_arrays, one_hot_codes, sequence_codes
from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig
from qtlgraph.encoders.embed import (
    BF16_TOLERANCE,
    bf16_error,
    embed_batch,
    embed_genome,
    fold_batchnorm,
    load_local_model,
    open_embeddings,
)
from qtlgraph.errors import InputError
from qtlgraph.runtime import read_json, save_checkpoint, write_json


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A local-model run as train-local writes it, with untrained (seeded) weights."""
    root = tmp_path_factory.mktemp("embed")
    manifest = write_tiny_dataset(root / "data")
    config = BinEncoderConfig(
        dim=16, seq_channels=(8, 16, 16), acc_channels=4, flank_channels=4, head_hidden=8
    )
    torch.manual_seed(0)
    model = BinEncoder(config)
    run = root / "run"
    run.mkdir()
    write_json(
        run / "config.json",
        {"model": "local", "dataset": str(manifest), "encoder": config.to_dict()},
    )
    save_checkpoint(run / "checkpoint.pt", {"model": model.state_dict(), "epoch": 1})
    write_json(run / "run.json", {"kind": "local", "finished": True})
    return run


def test_resume_is_byte_identical(run_dir, tmp_path):
    whole = embed_genome(run_dir, tmp_path / "whole", chunk_bins=4, batch_size=8, precision="fp32")
    assert whole.complete and whole.n_chunks == 5  # 19 bins
    part = embed_genome(
        run_dir, tmp_path / "part", chunk_bins=4, batch_size=8, precision="fp32", stop_after=2
    )
    meta = read_json(tmp_path / "part" / "embed.json")
    assert not part.complete and meta["done_chunks"] == [0, 1] and meta["complete"] is False
    with pytest.raises(InputError, match="incomplete"):
        open_embeddings(tmp_path / "part")
    resumed = embed_genome(run_dir, tmp_path / "part", chunk_bins=4, batch_size=8, resume=True)
    assert resumed.complete and resumed.precision == "fp32"  # stored, not re-chosen by auto
    a = (tmp_path / "whole" / "embeddings.npy").read_bytes()
    assert a == (tmp_path / "part" / "embeddings.npy").read_bytes()
    array, meta = open_embeddings(tmp_path / "part")
    assert array.shape == (2, 19, 16) and array.dtype == np.float16
    assert meta["done_chunks"] == [0, 1, 2, 3, 4] and meta["cell_types"] == ["mono", "tcel"]
    assert np.isfinite(array).all()


def test_cache_equals_direct_embedding(run_dir, tmp_path):
    from qtlgraph.genome import BinIndex
    from qtlgraph.manifest import load_dataset
    from qtlgraph.sequence import open_sequence

    embed_genome(run_dir, tmp_path / "c", chunk_bins=7, dtype="float32", precision="fp32")
    array, _ = open_embeddings(tmp_path / "c")
    model, config = load_local_model(run_dir)
    dataset = load_dataset(config["dataset"])
    index = BinIndex(dataset.genome, 10_000)
    arrays = load_bin_arrays(dataset, index, model.config, targets=False)
    bins = np.array([3, 11])
    codes = sequence_codes(open_sequence(dataset), index, bins)
    with torch.no_grad():
        direct = model.embed(
            one_hot_codes(codes),
            torch.from_numpy(arrays.acc[1, bins]),
            torch.from_numpy(arrays.flank[1, bins]),
        ).numpy()
    np.testing.assert_allclose(array[1, bins], direct, rtol=1e-5, atol=1e-5)


def test_bf16_agrees_with_fp32(run_dir):
    model, _ = load_local_model(run_dir)
    g = torch.Generator().manual_seed(0)
    seq = one_hot_codes(torch.randint(0, 5, (8, 10_000), generator=g).numpy().astype(np.uint8))
    err = bf16_error(model, (seq, torch.rand(8, 100, generator=g), torch.rand(8, 50, generator=g)))
    assert 0 < err <= BF16_TOLERANCE


def test_refuses_non_empty_out_and_bad_options(run_dir, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        embed_genome(run_dir, out)
    with pytest.raises(InputError, match="dtype"):
        embed_genome(run_dir, tmp_path / "x", dtype="int8")
    assert (out / "keep.txt").exists() and not (tmp_path / "x").exists()
    embed_genome(run_dir, tmp_path / "y", chunk_bins=10)
    with pytest.raises(InputError, match="cannot resume"):
        embed_genome(run_dir, tmp_path / "y", chunk_bins=5, resume=True)


def test_folded_batchnorm_and_lookup_match_plain_model():
    torch.manual_seed(3)
    model = BinEncoder(
        BinEncoderConfig(dim=8, seq_channels=(4, 8, 8), acc_channels=3, flank_channels=3)
    ).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):  # non-trivial statistics, as after training
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded.modules())
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 5, (4, 10_000), dtype=np.uint8))
    acc, flank = torch.rand(4, 100), torch.rand(4, 50)
    with torch.no_grad():
        plain = model.embed(one_hot_codes(codes.numpy()), acc, flank)
    torch.testing.assert_close(
        embed_batch(folded, (codes, acc, flank)), plain, rtol=1e-5, atol=1e-5
    )


def test_auto_precision_is_fp32_on_the_cpu(run_dir, tmp_path):
    result = embed_genome(run_dir, tmp_path / "a", chunk_bins=8)  # precision="auto"
    meta = read_json(tmp_path / "a" / "embed.json")
    assert result.precision == "fp32" and meta["bf16_max_abs_error"] is None
    auto = (tmp_path / "a" / "embeddings.npy").read_bytes()
    embed_genome(run_dir, tmp_path / "f", chunk_bins=8, precision="fp32")
    assert auto == (tmp_path / "f" / "embeddings.npy").read_bytes()
