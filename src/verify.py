"""python -m src.verify <run dir>: is this run's artefact still what its manifest says?

Re-hashes the adapter files, the input data files and (when on local disk) the base model's
weights named in manifest.json. Exit status 0 when everything matches, 1 when anything was
changed, added or removed, 2 when the run dir cannot be checked at all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from src.errors import MedtuneError, exit_on_user_error
from src.manifest import base_model_identity, sha256_file, sha256_tree


def check(run_dir: Path) -> list[str]:
    """One line per problem found; an empty list means the artefact is intact."""
    manifest_file = run_dir / "manifest.json"
    if not manifest_file.is_file():
        raise MedtuneError(f"{manifest_file} not found: give the dir of a finished medtune run")
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as err:
        raise MedtuneError(
            f"{manifest_file} is not valid JSON ({err.msg}): the manifest itself was damaged"
        ) from None
    problems = []
    adapter_dir = run_dir / manifest["adapter"]["path"]
    found = sha256_tree(adapter_dir) if adapter_dir.is_dir() else {}
    for name, digest in manifest["adapter"]["sha256"].items():
        if name not in found:
            problems.append(f"adapter/{name}: missing")
        elif found[name] != digest:
            problems.append(f"adapter/{name}: changed (sha256 {found[name][:12]}…, manifest {digest[:12]}…)")
    problems += [
        f"adapter/{name}: not in the manifest"
        for name in sorted(set(found) - set(manifest["adapter"]["sha256"]))
    ]
    for role, entry in manifest["data"]["files"].items():
        path = Path(entry["path"])
        if not path.is_file():
            problems.append(f"data {role} {path}: missing")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"data {role} {path}: changed since training")
    recorded = manifest["base_model"].get("weights_sha256")
    if recorded:
        now = base_model_identity(manifest["base_model"]["name_or_path"]).get("weights_sha256") or {}
        for name, digest in recorded.items():
            if now.get(name) != digest:
                problems.append(
                    f"base model {manifest['base_model']['name_or_path']} {name}: "
                    f"{'missing' if name not in now else 'changed'}"
                )
    return problems


@exit_on_user_error
def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise MedtuneError("usage: python -m src.verify <run dir>")
    run_dir = Path(argv[0])
    problems = check(run_dir)
    for line in problems:
        print(f"FAILED  {line}")
    if problems:
        print(f"{run_dir}: NOT intact ({len(problems)} problem(s))")
        return 1
    print(f"{run_dir}: intact (adapter, data files and base weights match manifest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
