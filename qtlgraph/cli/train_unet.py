"""``qtlgraph train-unet``: train one of the report's U-Net baselines A-D, then evaluate it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from qtlgraph.errors import InputError

DEFAULTS = dict(
    epochs=5,
    windows=100_000,
    batch_size=128,
    lr=1e-3,
    decay=1e-5,
    loss="bce",
    base_filters=15,
    depth=5,
    kernel_size=7,
    pool="max",
    length=10_240,
    threshold=2.0,
    seed=0,
)


def _prepare_dir(out: Path, resume: bool, force: bool) -> dict | None:
    """The stored config when resuming; otherwise an empty run directory."""
    from qtlgraph.outputs import check_output_dir
    from qtlgraph.runtime import read_json

    if resume and (out / "config.json").is_file():
        return read_json(out / "config.json")
    check_output_dir(out, force or resume)
    if out.is_dir() and force:
        shutil.rmtree(out)
    return None


def _new_config(dataset, model: str, out: Path, opts: dict, qmap) -> dict:
    from qtlgraph.encoders.baselines import baseline_spec, unet_config
    from qtlgraph.runtime import versions

    spec = baseline_spec(model)
    unet = unet_config(
        spec,
        len(dataset.cell_types),
        len(dataset.marks),
        depth=opts["depth"],
        base_filters=opts["base_filters"],
        kernel_size=opts["kernel_size"],
        pool=opts["pool"],
        length=opts["length"],
    )
    return {
        "run": out.name,
        "model": f"unet:{spec.name}",
        "baseline": spec.name,
        "dataset": None,
        "cell_types": list(dataset.cell_type_names),
        "marks": list(dataset.marks),
        "unet": unet._asdict(),
        "loss": opts["loss"],
        "threshold": opts["threshold"],
        "training": {
            k: opts[k] for k in ("epochs", "windows", "batch_size", "lr", "decay", "seed")
        },
        "optimizer": "Adam, lr / (1 + decay * step) per step (Keras 'decay', as Leopard)",
        "quantile_map": qmap._asdict() if qmap is not None else None,
        "versions": versions(),
    }


def _check(opts: dict) -> None:
    for key in ("epochs", "windows", "batch_size", "base_filters", "length"):
        if int(opts[key]) < 1:
            raise InputError(f"--{key.replace('_', '-')} {opts[key]}: expected a positive integer")
    if opts["lr"] <= 0 or opts["decay"] < 0:
        raise InputError(
            f"--lr {opts['lr']} / --decay {opts['decay']}: expected lr > 0 and decay >= 0"
        )


def _loaders(reader, spec, dataset, cfg: dict, seed: int):
    from torch.utils.data import DataLoader

    from qtlgraph.encoders.windows import RandomWindows

    t, length = cfg["training"], cfg["unet"]["length"]
    train = RandomWindows(
        reader,
        spec,
        list(dataset.split.chroms(dataset.genome, "train")),
        t["windows"],
        length,
        cfg["loss"],
        seed,
        cfg["threshold"],
    )
    valid_chroms = [
        c
        for c in dataset.split.chroms(dataset.genome, "valid")
        if dataset.genome.sizes[c] >= length
    ]
    valid = None
    if valid_chroms:
        n = max(t["batch_size"], t["windows"] // 10)
        valid = DataLoader(
            RandomWindows(
                reader, spec, valid_chroms, n, length, cfg["loss"], seed + 1, cfg["threshold"]
            ),
            batch_size=t["batch_size"],
        )
    return DataLoader(train, batch_size=t["batch_size"]), valid


def train_unet(
    dataset_path: str | Path,
    model: str,
    out: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
    evaluate: bool = True,
    eval_batch_size: int = 8,
    base_fraction: float = 0.01,
    **options: Any,
) -> dict:
    """Train baseline ``model`` (A-D) on a dataset manifest into run directory ``out``.

    ``options`` override :data:`DEFAULTS` (epochs, windows, batch_size, lr, decay, loss,
    base_filters, depth, kernel_size, pool, length, threshold, seed). With ``resume`` the
    stored ``config.json`` decides everything but ``epochs`` and the device. Returns the
    evaluation results (or the training history when ``evaluate`` is False).
    """
    import torch

    from qtlgraph.encoders.baselines import baseline_spec
    from qtlgraph.encoders.evaluate import evaluate_run
    from qtlgraph.encoders.losses import MaskedLoss
    from qtlgraph.encoders.train import fit
    from qtlgraph.encoders.unet import UNet, UNetConfig
    from qtlgraph.encoders.windows import QuantileMap, TrackReader, fit_quantile_map
    from qtlgraph.manifest import load_dataset
    from qtlgraph.runtime import seed_everything, select_device, write_json

    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise InputError(f"train_unet: unknown option(s) {sorted(unknown)}")
    opts = {**DEFAULTS, **options}
    _check(opts)
    out, dev = Path(out), select_device(device)
    dataset = load_dataset(dataset_path, missing="nan")
    spec = baseline_spec(model)
    cfg = _prepare_dir(out, resume, force)
    if cfg is not None and cfg.get("baseline") != spec.name:
        raise InputError(f"{out}/config.json: run is model {cfg.get('baseline')}, not {spec.name}")
    if cfg is None:
        reader = TrackReader(dataset)
        train_chroms = list(dataset.split.chroms(dataset.genome, "train"))
        qmap = (
            fit_quantile_map(reader, train_chroms, seed=opts["seed"])
            if spec.accessibility
            else None
        )
        cfg = _new_config(dataset, spec.name, out, opts, qmap)
        cfg["dataset"] = str(Path(dataset_path).absolute())
        out.mkdir(parents=True, exist_ok=True)
    if resume and "epochs" in options:
        cfg["training"]["epochs"] = int(options["epochs"])
    from qtlgraph.distributed import barrier, init_distributed

    ctx = init_distributed(dev)
    if ctx.is_main:  # under torchrun every rank derives the same config; rank 0 writes it
        write_json(out / "config.json", cfg)
    barrier(ctx)
    qmap = QuantileMap(**cfg["quantile_map"]) if cfg["quantile_map"] else None
    reader, t = TrackReader(dataset, qmap), cfg["training"]
    seed_everything(t["seed"])
    net = UNet(UNetConfig(**cfg["unet"])).to(dev)
    loss = MaskedLoss(cfg["loss"], cfg["unet"]["out_channels"]).to(dev)
    optimizer = torch.optim.Adam([*net.parameters(), *loss.parameters()], lr=t["lr"])
    decay = t["decay"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 / (1.0 + decay * step)
    )
    train_loader, valid_loader = _loaders(reader, spec, dataset, cfg, t["seed"])
    history = fit(
        net,
        train_loader,
        optimizer,
        loss,
        epochs=t["epochs"],
        run_dir=out,
        device=dev,
        resume=resume,
        valid_loader=valid_loader,
        seed=t["seed"],
        extra_state={"config": cfg},
        scheduler=scheduler,
    )
    if not evaluate or not ctx.is_main:  # rank 0 alone evaluates
        return {"history": history}
    return evaluate_run(out, batch_size=eval_batch_size, base_fraction=base_fraction, device=dev)


@click.command(
    short_help="Train a Leopard U-Net baseline (A-D) and evaluate it on the test chromosomes."
)
@click.option(
    "--dataset",
    "dataset_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dataset manifest (TOML).",
)
@click.option(
    "--model",
    required=True,
    type=click.Choice(["A", "B", "C", "D"], case_sensitive=False),
    help="A: seq -> marks x cells; B: seq + access -> marks; C: seq + access -> marks x cells; "
    "D: seq -> marks shared by cells.",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory."
)
@click.option("--epochs", type=int, default=DEFAULTS["epochs"], show_default=True)
@click.option(
    "--windows",
    type=int,
    default=DEFAULTS["windows"],
    show_default=True,
    help="Random training windows per epoch.",
)
@click.option("--batch-size", type=int, default=DEFAULTS["batch_size"], show_default=True)
@click.option(
    "--lr", type=float, default=DEFAULTS["lr"], show_default=True, help="Adam learning rate."
)
@click.option(
    "--decay",
    type=float,
    default=DEFAULTS["decay"],
    show_default=True,
    help="Learning-rate decay per step: lr / (1 + decay * step), Keras/Leopard style.",
)
@click.option(
    "--loss",
    type=click.Choice(["bce", "mse", "poisson", "nb"]),
    default="bce",
    show_default=True,
    help="bce on binarised marks (signal > 2), or regression on the signal.",
)
@click.option("--base-filters", type=int, default=DEFAULTS["base_filters"], show_default=True)
@click.option("--depth", type=click.IntRange(0, 12), default=DEFAULTS["depth"], show_default=True)
@click.option(
    "--kernel-size", type=click.IntRange(1), default=DEFAULTS["kernel_size"], show_default=True
)
@click.option("--pool", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option(
    "--length", type=int, default=DEFAULTS["length"], show_default=True, help="Window length (bp)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--force", is_flag=True, help="Replace a non-empty OUT.")
@click.option("--no-evaluate", is_flag=True, help="Skip the test-chromosome evaluation.")
@click.option(
    "--base-fraction",
    type=float,
    default=0.01,
    show_default=True,
    help="Fraction of test bases scored for PR/ROC-AUC.",
)
def command(
    dataset_path: Path,
    model: str,
    out: Path,
    device: str,
    resume: bool,
    force: bool,
    no_evaluate: bool,
    base_fraction: float,
    **options: Any,
) -> None:
    """Train Leopard's U-Net as baseline A, B, C or D (the report's Table 3) on random
    windows of the training chromosomes, checkpointing every epoch, then write
    results.json and bin_predictions.parquet for the test chromosomes.
    """
    from qtlgraph.encoders.evaluate import comparison_table, to_markdown

    if resume:  # only options given on the command line override the stored run
        ctx = click.get_current_context()
        options = {
            k: v
            for k, v in options.items()
            if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT
        }
    result = train_unet(
        dataset_path,
        model.upper(),
        out,
        device=device,
        resume=resume,
        force=force,
        evaluate=not no_evaluate,
        base_fraction=base_fraction,
        **options,
    )
    from qtlgraph.runtime import is_rank_zero

    if not is_rank_zero():  # under torchrun rank 0 reports
        return
    if no_evaluate:
        click.echo(f"trained {out} ({len(result['history'])} epochs)", err=True)
    else:
        click.echo(to_markdown(comparison_table([out])), nl=False)
