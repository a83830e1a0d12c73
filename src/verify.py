"""python -m src.verify <run dir> [--public-key FILE] [--data-root DIR]: is this run's artefact
still what its manifest says, and who signed it?

Re-hashes every file the run wrote (adapter, metrics, model card, resolved config; see
src/manifest.py for the few it leaves out), the input data files and (when on local disk) the
base model's weights, and checks the signature when there is one. Data files are looked up
relative to --data-root, then to the launch dir the run recorded, then to the current dir, so
a run moved to a review share verifies beside a copy of its data. Exit status 0 when everything
matches, 1 when anything was changed, added or removed, 2 when the run cannot be checked at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from src.errors import MedtuneError, exit_on_user_error
from src.manifest import base_model_identity, run_files, sha256_file
from src.signing import check_signature


def _files(run_dir: Path, manifest: dict) -> list[str]:
    if "files" in manifest:
        recorded, found = manifest["files"], run_files(run_dir)
    else:  # manifest version 1 covered the adapter only
        recorded = {f"adapter/{name}": digest for name, digest in manifest["adapter"]["sha256"].items()}
        found = {name: digest for name, digest in run_files(run_dir).items() if name.startswith("adapter/")}
    problems = []
    for name, digest in recorded.items():
        if name not in found:
            problems.append(f"{name}: missing")
        elif found[name] != digest:
            problems.append(f"{name}: changed (sha256 {found[name][:12]}…, manifest {digest[:12]}…)")
    return problems + [f"{name}: not in the manifest" for name in sorted(set(found) - set(recorded))]


def _metrics_agree(run_dir: Path, manifest: dict) -> list[str]:
    """The manifest's copy of the headline metrics is the one metrics.json holds."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []  # reported as missing or changed by the file check
    return [
        f"manifest.json metrics.{key}: differs from metrics.json"
        for key, value in manifest.get("metrics", {}).items()
        if metrics.get(key) != value
    ]


def _data(manifest: dict, data_root: Path | None) -> list[str]:
    recorded_root = Path(manifest["data"].get("root", "/"))
    problems = []
    for role, entry in manifest["data"]["files"].items():
        relative = Path(entry["path"])
        candidates = [root / relative for root in (data_root, recorded_root, Path.cwd()) if root is not None]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            problems.append(
                f"data {role} {candidates[0]}: missing (give --data-root, the folder it is under)"
            )
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"data {role} {path.resolve()}: changed since training")
    return problems


def _base_weights(manifest: dict) -> list[str]:
    recorded = manifest["base_model"].get("weights_sha256")
    if not recorded:
        return []
    name = manifest["base_model"]["name_or_path"]
    now = base_model_identity(name).get("weights_sha256") or {}
    return [
        f"base model {name} {file}: {'missing' if file not in now else 'changed'}"
        for file, digest in recorded.items()
        if now.get(file) != digest
    ]


def check(
    run_dir: Path, public_key: str | None = None, data_root: Path | None = None
) -> tuple[list[str], str]:
    """(one line per problem found, who signed); no problems means the artefact is intact."""
    manifest_file = run_dir / "manifest.json"
    if not manifest_file.is_file():
        raise MedtuneError(f"{manifest_file} not found: give the dir of a finished medtune run")
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as err:
        raise MedtuneError(
            f"{manifest_file} is not valid JSON ({err.msg}): the manifest itself was damaged"
        ) from None
    signature_problems, signer = check_signature(run_dir, public_key)
    problems = [
        *signature_problems,
        *_files(run_dir, manifest),
        *_metrics_agree(run_dir, manifest),
        *_data(manifest, data_root),
        *_base_weights(manifest),
    ]
    return problems, signer


@exit_on_user_error
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.verify", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--public-key", help="the signer's public key (PEM): the run must be signed by it")
    parser.add_argument("--data-root", type=Path, help="the folder the run's data paths are relative to")
    args = parser.parse_args(argv)
    problems, signer = check(args.run_dir, args.public_key, args.data_root)
    for line in problems:
        print(f"FAILED  {line}")
    if problems:
        print(f"{args.run_dir}: NOT intact ({len(problems)} problem(s))")
        return 1
    print(f"{args.run_dir}: intact (run files, data files and base weights match manifest.json; {signer})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
