"""manifest.json: everything a compliance reviewer needs to trace a run's adapter to its inputs.

Hashes, not contents: data files, the exact training subset and evaluation split (their ids,
in order), the base model's weights and every file the run wrote (adapter, metrics, model
card, resolved config) are identified by sha256, so the manifest itself holds no note text and
`python -m src.verify` can re-check it later. Paths are relative (run files to the run dir,
data files to the launch dir recorded as `data.root`), so a run moved elsewhere still verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from src.data.caches import sha256_file
from src.models.build import resolve_checkpoint
from src.run_dir import write_json
from src.signing import sign_if_configured

MANIFEST_VERSION = 2
# Run-dir entries the manifest does not cover: itself and its signature, and what keeps changing
# after it is written (the run's status marker, Hydra's log, W&B's own offline store, the
# evaluations of other models' predictions that src.evaluate adds later).
UNSEALED = ("manifest.json", "manifest.sig.json", "status.json", "wandb", "evaluations")
UNSEALED_SUFFIXES = (".log", ".tmp")
LIBRARIES = ("torch", "transformers", "peft", "lightning", "datasets", "hydra-core", "wandb")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256_tree(folder: str | Path) -> dict[str, str]:
    """{relative path: sha256} for every file under folder, sorted."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def run_files(run_dir: Path) -> dict[str, str]:
    """{path relative to run_dir: sha256} of every file the manifest covers."""
    return {
        name: digest
        for name, digest in sha256_tree(run_dir).items()
        if Path(name).parts[0] not in UNSEALED and not name.endswith(UNSEALED_SUFFIXES)
    }


def ids_digest(rows: list[dict]) -> str:
    """Identifies an exact split: its ids, in order (no text)."""
    return hashlib.sha256("\n".join(str(row["id"]) for row in rows).encode()).hexdigest()


def base_model_identity(name_or_path: str) -> dict:
    """The checkpoint's id and the sha256 of its weight files, when they are on local disk.

    A hub id that is not a local folder is resolved through the local hub cache only (no
    network); if it is not there, the manifest says so instead of guessing.
    """
    source = Path(resolve_checkpoint(name_or_path)).expanduser()
    if not source.is_dir():
        try:
            from huggingface_hub import snapshot_download

            source = Path(snapshot_download(name_or_path, local_files_only=True))
        except Exception:  # not cached locally: nothing to hash without a download
            return {"name_or_path": name_or_path, "weights_sha256": None, "note": "weights not on local disk"}
    weights = {
        str(p.relative_to(source)): sha256_file(p)
        for p in sorted(source.rglob("*"))
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES
    }
    return {"name_or_path": name_or_path, "resolved_path": str(source), "weights_sha256": weights}


def code_version() -> dict:
    """The git commit of the medtune checkout and whether it had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "dirty": bool(status) if status is not None else None}


def environment() -> dict:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    hardware = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    return {"versions": versions, "hardware": hardware}


def build_manifest(
    cfg: DictConfig,
    run_dir: Path,
    lineage: dict,
    metrics: dict,
    started_at: str,
) -> dict:
    """The manifest of a finished run; `lineage` comes from Task.lineage (split ids are hashed)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_name": cfg.run_name,
        "task": cfg.task.name,
        "seed": cfg.seed,
        "started_at": started_at,
        "finished_at": now(),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "base_model": base_model_identity(cfg.model.name_or_path),
        "data": {
            "root": str(Path.cwd()),  # the launch dir, which relative data paths start from
            "files": {
                role: {"path": os.path.relpath(Path(path).resolve()), "sha256": sha256_file(path)}
                for role, path in lineage["files"].items()
            },
            "splits": {
                name: {"n": len(rows), "ids_sha256": ids_digest(rows)}
                for name, rows in lineage["splits"].items()
            },
            "stats": metrics.get("data", {}),
            "label_counts": lineage.get("label_counts", {}),
        },
        "labels": lineage["labels"],
        "adapter": {"path": "adapter", "sha256": sha256_tree(run_dir / "adapter")},
        # A summariser that rewrites an extractive run's output names that run and its weights.
        **({"extractor": metrics["extractor"]} if "extractor" in metrics else {}),
        "code": code_version(),
        **environment(),
        "metrics": {
            key: metrics[key]
            for key in (
                *("main_metric", "base", "tuned", "delta", "intervals", "reference"),
                *("review", "unseen_scorer"),  # coding's
            )
            if key in metrics
        },
    }


def seal(run_dir: Path, manifest: dict) -> dict:
    """Writes manifest.json once every other result is in run_dir, listing each file's sha256,
    and signs it when a signing key is configured (src/signing.py)."""
    manifest = {**manifest, "files": run_files(run_dir)}
    write_json(run_dir / "manifest.json", manifest)
    sign_if_configured(run_dir)
    return manifest


def read_manifest(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "manifest.json").read_text())
