"""What a receptive-field probe looks at: the project's encoders, trained or not, and Enformer.

:func:`load_target` turns a ``--model`` spec (``unet:A`` .. ``unet:D``, ``bin-encoder``,
``enformer`` or a run directory) into a :class:`ProbeTarget` whose ``model`` follows the
probes' convention, one-hot ``(batch, 4, length)`` -> ``(batch, tracks, length')``:

* U-Net baselines: models B and C also read two accessibility channels; the wrapper
  :class:`SequenceOnly` feeds them zeros, so only the sequence varies.
* bin encoder: its per-position trunk output (:meth:`BinEncoder.features`, zero
  accessibility), ``dim`` tracks at the accessibility stride (100 bp x trunk pooling);
  the vector after global pooling sees the whole bin by construction.
* Enformer: :func:`qtlgraph.analysis.enformer_probe.build_enformer_probe` (optional extra).

Untrained models use the architecture's default config (or the config of the trained run
they are compared with) and a seeded random initialisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from qtlgraph.errors import InputError

#: what the report measured (section 4.3, Figures 16-20)
REPORT = {
    "unet": {"span_bp": 1100, "source": "report Figures 16-18: U-Net model A, about 1,100 bp"},
    "bin-encoder": {"span_bp": None, "source": "not in the report (new encoder)"},
    "enformer": {"span_bp": "full input", "source": "report Figures 19-20: the full ~200 kb input"},
    "gnn": {
        "span_bp": None,
        "source": "not in the report (graph reach over QTL edges, issue 5 item 3)",
    },
}
UNET_SPECS = ("unet:A", "unet:B", "unet:C", "unet:D")


class ProbeTarget(NamedTuple):
    """A model ready for the probes.

    Attributes:
        name: the spec it came from (``unet:A``, ``bin-encoder``, ``enformer``, a run dir).
        family: ``unet``, ``bin-encoder`` or ``enformer``.
        model: (batch, 4, length) -> (batch, tracks, length').
        length: input length to probe at (bp).
        analytic: analytic receptive field ``{"start", "end", "size", "min_size",
            "max_size"}`` (offsets relative to an output position) or None.
        trained: whether weights came from a run's checkpoint.
        config: the architecture config (JSON-able), to rebuild an untrained twin.
    """

    name: str
    family: str
    model: nn.Module
    length: int
    analytic: dict[str, int] | None
    trained: bool
    config: dict[str, Any]


class SequenceOnly(nn.Module):
    """Feeds a model that reads extra (accessibility) channels zeros there.

    Shapes:
        x: (B, 4, L) -> model((B, 4 + n_extra, L))
    """

    def __init__(self, model: nn.Module, n_extra: int) -> None:
        super().__init__()
        self.model, self.n_extra = model, n_extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_extra == 0:
            return self.model(x)
        pad = x.new_zeros(x.shape[0], self.n_extra, x.shape[-1])
        return self.model(torch.cat([x, pad], dim=1))


class BinEncoderFeatures(nn.Module):
    """The bin encoder's trunk output for a sequence, with zero accessibility.

    Shapes:
        x: (B, 4, bin_size) -> (B, dim, bin_size // (acc_resolution * prod(trunk_pools)))
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = x.new_zeros(x.shape[0], self.encoder.config.acc_positions)
        return self.encoder.features(x, acc)


def _unet_analytic(config) -> dict[str, int]:
    from qtlgraph.encoders.unet import receptive_field, receptive_field_sizes

    rf = receptive_field(config)
    lo, hi = receptive_field_sizes(config)
    return {"start": rf.start, "end": rf.end, "size": rf.size, "min_size": lo, "max_size": hi}


def _bin_analytic(config) -> dict[str, int]:
    from qtlgraph.encoders.bin_encoder import receptive_field

    rf = receptive_field(config)
    return {
        "start": -(rf.trunk // 2),
        "end": rf.trunk - rf.trunk // 2,
        "size": rf.trunk,
        "min_size": rf.trunk,
        "max_size": rf.trunk,
    }


def default_unet_analytic(name: str = "unet:A") -> dict[str, int]:
    """Analytic receptive field of a U-Net baseline's default config (no model built)."""
    from qtlgraph.encoders.baselines import baseline_spec, unet_config

    return _unet_analytic(
        unet_config(baseline_spec(name.split(":", 1)[1]), n_cell_types=3, n_marks=2)
    )


def unet_target(
    config: dict[str, Any] | None = None,
    name: str = "unet:A",
    state: dict | None = None,
    seed: int = 0,
) -> ProbeTarget:
    """A U-Net baseline; ``config`` holds UNetConfig fields (default: Leopard's, model A)."""
    from qtlgraph.encoders.baselines import baseline_spec, unet_config
    from qtlgraph.encoders.unet import UNet, UNetConfig, check_config

    if config is None:
        spec = baseline_spec(name.split(":", 1)[1])
        cfg = unet_config(spec, n_cell_types=3, n_marks=2)
    else:
        unknown = set(config) - set(UNetConfig._fields)
        if unknown:
            raise InputError(f"U-Net config: unknown key(s) {sorted(unknown)}")
        cfg = check_config(UNetConfig(**config))
    if cfg.in_channels < 4:
        raise InputError(
            f"U-Net config: in_channels {cfg.in_channels} < 4, the model does not read DNA"
        )
    torch.manual_seed(seed)
    unet = UNet(cfg)
    if state is not None:
        unet.load_state_dict(state)
    model = SequenceOnly(unet, cfg.in_channels - 4).eval()
    return ProbeTarget(
        name, "unet", model, cfg.length, _unet_analytic(cfg), state is not None, cfg._asdict()
    )


def bin_encoder_target(
    config: dict[str, Any] | None = None,
    name: str = "bin-encoder",
    state: dict | None = None,
    seed: int = 0,
) -> ProbeTarget:
    """The bin encoder's trunk (default config unless ``config``)."""
    from qtlgraph.encoders.bin_encoder import BinEncoder, BinEncoderConfig

    cfg = BinEncoderConfig.from_dict(config) if config is not None else BinEncoderConfig()
    torch.manual_seed(seed)
    encoder = BinEncoder(cfg)
    if state is not None:
        encoder.load_state_dict(state)
    model = BinEncoderFeatures(encoder).eval()
    return ProbeTarget(
        name,
        "bin-encoder",
        model,
        cfg.bin_size,
        _bin_analytic(cfg),
        state is not None,
        cfg.to_dict(),
    )


def enformer_target(seed: int = 0, **options) -> ProbeTarget:
    """A reduced-width, randomly initialised Enformer (:mod:`qtlgraph.analysis.enformer_probe`)."""
    from qtlgraph.analysis.enformer_probe import build_enformer_probe

    model = build_enformer_probe(seed=seed, **options)
    return ProbeTarget(
        "enformer", "enformer", model, model.input_length, None, False, model.hparams
    )


def _run_architecture(run_dir: Path) -> tuple[str, dict[str, Any], str]:
    """(family, architecture config, model name) from a run's ``config.json``."""
    from qtlgraph.runtime import read_json

    config = read_json(run_dir / "config.json")
    model = str(config.get("model", ""))
    if model == "local" and isinstance(config.get("encoder"), dict):
        return "bin-encoder", config["encoder"], "bin-encoder"
    if model.startswith("unet"):
        for key in ("unet", "architecture", "model_config", "unet_config"):
            if isinstance(config.get(key), dict):
                name = model if ":" in model else f"unet:{config.get('baseline', 'A')}"
                return "unet", config[key], name
    raise InputError(
        f"{run_dir / 'config.json'}: not a U-Net or bin-encoder run (model={model!r}, "
        "expected unet:A..D with its U-Net config, or local with 'encoder')"
    )


def run_target(run_dir: str | Path, seed: int = 0) -> ProbeTarget:
    """A trained model from a run directory (``config.json`` + ``checkpoint.pt``)."""
    from qtlgraph.runtime import load_checkpoint

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory (expected config.json and checkpoint.pt)")
    family, arch, _ = _run_architecture(run_dir)
    state = load_checkpoint(run_dir / "checkpoint.pt")
    if not isinstance(state, dict) or "model" not in state:
        raise InputError(f"{run_dir / 'checkpoint.pt'}: no 'model' state in the checkpoint")
    build = unet_target if family == "unet" else bin_encoder_target
    try:
        return build(arch, name=str(run_dir), state=state["model"], seed=seed)
    except RuntimeError as exc:  # load_state_dict: the weights do not fit the config
        raise _weights_mismatch(run_dir, exc) from None


def _weights_mismatch(run_dir: Path, exc: RuntimeError) -> InputError:
    """One line for a ``load_state_dict`` failure (PyTorch's message spans several)."""
    detail = " ".join(str(exc).split())
    return InputError(f"{run_dir / 'checkpoint.pt'}: weights do not match config.json ({detail})")


def untrained_twin(target: ProbeTarget, seed: int = 0) -> ProbeTarget:
    """The same architecture and config as ``target``, randomly initialised."""
    if target.family == "unet":
        return unet_target(target.config, name=f"{target.name} (untrained)", seed=seed)
    if target.family == "bin-encoder":
        return bin_encoder_target(target.config, name=f"{target.name} (untrained)", seed=seed)
    raise InputError(f"{target.name}: no trained version to compare with")


def load_target(spec: str, seed: int = 0) -> ProbeTarget:
    """``unet:A``..``unet:D``, ``bin-encoder``, ``enformer`` (untrained) or a run directory."""
    if spec in UNET_SPECS or spec.lower() in {s.lower() for s in UNET_SPECS}:
        return unet_target(name=f"unet:{spec.split(':')[1].upper()}", seed=seed)
    if spec == "bin-encoder":
        return bin_encoder_target(seed=seed)
    if spec == "enformer":
        return enformer_target(seed=seed)
    if Path(spec).is_dir():
        return run_target(spec, seed=seed)
    raise InputError(
        f"--model {spec!r}: expected unet:A|unet:B|unet:C|unet:D, bin-encoder, enformer "
        "or a run directory"
    )


class GraphTarget(NamedTuple):
    """A trained graph model and its graph, for :func:`qtlgraph.analysis.graph_reach.graph_reach`.

    Attributes:
        name: the run directory.
        model: ``model(x, graph, edge_attr) -> (N, marks)`` in eval mode.
        data: the PyG ``Data`` (``x``, ``edge_index``, ``edge_attr``, ``bin``, ``cell_type``).
        prepare_graph: ``(edge_index, num_nodes) -> graph`` as the run's model reads it.
        bin_start: (N,) bp start of every node's bin.
        chrom: (N,) chromosome code of every node.
        bin_size: bp per bin.
        layers: message-passing layers (0 for the local baseline).
        config: the run's ``config.json``.
    """

    name: str
    model: nn.Module
    data: Any
    prepare_graph: Any
    bin_start: Any
    chrom: Any
    bin_size: int
    layers: int
    config: dict[str, Any]


def is_graph_run(spec: str | Path) -> bool:
    """Whether ``spec`` is a ``qtlgraph train`` run (GNN or its local baseline)."""
    from qtlgraph.runtime import read_json

    path = Path(spec) / "config.json"
    if not path.is_file():
        return False
    config = read_json(path)
    return isinstance(config.get("model_config"), dict) and "in_dim" in config["model_config"]


def _graph_prepare(model: nn.Module):
    """The graph the model reads, built as :func:`qtlgraph.gnn.train.model_inputs` builds it."""
    from torch_geometric.data import Data

    from qtlgraph.gnn.train import model_inputs

    return lambda edge_index, num_nodes: model_inputs(
        model, Data(edge_index=edge_index, num_nodes=num_nodes)
    )[1]


def graph_run_target(run_dir: str | Path) -> GraphTarget:
    """Rebuild a ``qtlgraph train`` run: its model (checkpoint weights), graph and features."""
    from qtlgraph.genome import BinIndex
    from qtlgraph.gnn.data import run_graph_data
    from qtlgraph.gnn.models import build_model
    from qtlgraph.manifest import load_dataset
    from qtlgraph.runtime import load_checkpoint, read_json

    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    d = config.get("data", {})
    if "dataset" not in d or "graphs" not in d or "embeddings" not in d:
        raise InputError(
            f"{run_dir / 'config.json'}: no data section (dataset, graphs, embeddings)"
        )
    if config.get("model") == "distal":
        raise InputError(
            f"{run_dir}: a distal run (train --model distal) reads its sources' DNA, so the "
            "node-feature reach probe does not apply; its reach is its graph's edges, and "
            "'qtlgraph score-variants --run' measures its effects at linked targets"
        )
    state = (
        load_checkpoint(run_dir / "checkpoint.pt")
        if (run_dir / "checkpoint.pt").is_file()
        else None
    )
    if not isinstance(state, dict) or "model" not in state:
        raise InputError(f"{run_dir / 'checkpoint.pt'}: missing, or no 'model' state in it")
    inputs = run_graph_data(config)  # every data option the run recorded
    model = build_model(config["model_config"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise _weights_mismatch(run_dir, exc) from None
    index = BinIndex(load_dataset(d["dataset"]).genome, inputs.bin_size)
    bins = inputs.data.bin.numpy()
    layers = len(model.convs) if model.message_passing else 0
    return GraphTarget(
        str(run_dir),
        model.eval(),
        inputs.data,
        _graph_prepare(model),
        index.starts(bins),
        index.chrom_of_bins(bins),
        inputs.bin_size,
        layers,
        config,
    )
