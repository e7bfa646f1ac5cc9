"""A training run's checkpoint: ``checkpoint.safetensors`` in the run folder, written after
every epoch (weights, the best weights so far, the optimizer's state, the history) so that a
run resumes as if it had never stopped. No pickle: safetensors with JSON metadata."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from genrekit._files import atomic_path

CHECKPOINT_FILE = "checkpoint.safetensors"


def save_checkpoint(folder: Path, body: nn.Module, optimizer: torch.optim.Optimizer, best: dict, state: dict) -> None:
    """Write ``folder/checkpoint.safetensors`` (atomically).

    Parameters
    ----------
    folder : Path
        The run folder.
    body : torch.nn.Module
        What trains: its weights now.
    optimizer : torch.optim.Optimizer
        Its state (per-parameter tensors and parameter groups).
    best : dict
        The best weights so far (name -> tensor).
    state : dict
        JSON-able progress: ``epoch``, ``history``, ``best_accuracy``, ``stale``, ``config``.
    """
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in body.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().contiguous() for k, v in best.items()})
    optimizer_state = optimizer.state_dict()
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value).contiguous()
    state = {**state, "param_groups": optimizer_state["param_groups"]}
    with atomic_path(folder / CHECKPOINT_FILE) as temporary:
        save_file(tensors, str(temporary), metadata={"state": json.dumps(state)})


def read_checkpoint_state(path: Path) -> dict:
    """The progress and settings a checkpoint holds (its metadata only: no tensor is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["state"])


def load_checkpoint(path: Path, body: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Restore ``body`` and ``optimizer`` from a checkpoint of :func:`save_checkpoint`.

    Returns
    -------
    best : dict
        The best weights so far (name -> tensor).
    state : dict
        The progress saved with it, less the optimizer's parameter groups.
    """
    state = read_checkpoint_state(path)
    tensors = load_file(str(path))
    body.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    per_param: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state.pop("param_groups")})
    return best, state
