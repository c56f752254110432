"""Device choice, seeding and checkpoints shared by every training command."""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np

from qtlgraph.errors import InputError
from qtlgraph.outputs import atomic_path


def select_device(spec: str = "auto"):
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present) as a ``torch.device``."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {spec}: CUDA is not available on this machine")
    if spec != "cpu" and not spec.startswith("cuda"):
        raise InputError(f"--device {spec}: expected cpu, cuda, cuda:N or auto")
    return torch.device(spec)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (a crash mid-write leaves the previous one intact)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint here")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except (EOFError, RuntimeError, OSError, ValueError, pickle.UnpicklingError) as exc:
        raise InputError(
            f"{path}: not a readable checkpoint (truncated or corrupt: {_first_line(exc)})"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically, NumPy scalars converted."""

    def default(o):
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o)}")

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=default) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({_first_line(exc)})") from None


def versions() -> dict[str, str]:
    """Versions of the packages that shape results, for provenance files."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in (
        "qtlgraph",
        "numpy",
        "pandas",
        "polars",
        "torch",
        "torch-geometric",
        "pyBigWig",
        "powerlaw",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def is_rank_zero() -> bool:
    """True outside torch.distributed and on rank 0 inside it."""
    return int(os.environ.get("RANK", "0")) == 0
