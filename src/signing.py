"""Ed25519 signatures of run manifests: who produced this artefact?

The manifest lists the sha256 of every file a run wrote, so signing manifest.json's bytes signs
the whole artefact. The signature lives beside it in manifest.sig.json with the signer's public
key; `python -m src.verify <run dir> --public-key FILE` checks the signature and that the key
is the one the reviewer expects.

  python -m src.signing keygen <folder>          a key pair: signing_key.pem (0600), signing_key.pub.pem
  python -m src.signing sign <run dir> [--key F] sign a finished run (default key: $MEDTUNE_SIGNING_KEY)

A training run signs its own manifest when MEDTUNE_SIGNING_KEY names a private key file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from src.errors import MedtuneError, exit_on_user_error

KEY_ENV = "MEDTUNE_SIGNING_KEY"
SIGNATURE = "manifest.sig.json"
RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint a reviewer can compare by eye: the sha256 of the raw public key."""
    return hashlib.sha256(public.public_bytes(*RAW)).hexdigest()[:16]


def _read_pem(path: str | Path, what: str, flag: str) -> bytes:
    path = Path(path).expanduser()
    if not path.is_file():
        raise MedtuneError(f"{what} {path} not found: give an existing file with {flag}")
    return path.read_bytes()


def load_private_key(path: str | Path, flag: str = f"--key or {KEY_ENV}") -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_pem(path, "signing key", flag), password=None)
    except (ValueError, TypeError) as err:
        raise MedtuneError(
            f"{path} is not an unencrypted PEM private key ({err}); make one with "
            "python -m src.signing keygen <folder>"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise MedtuneError(f"{path} is not an Ed25519 key; make one with python -m src.signing keygen DIR")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_read_pem(path, "public key", "--public-key"))
    except ValueError as err:
        raise MedtuneError(f"{path} is not a PEM public key ({err}): give the signer's *.pub.pem") from None
    if not isinstance(key, Ed25519PublicKey):
        raise MedtuneError(f"{path} is not an Ed25519 public key: give the signer's *.pub.pem")
    return key


def keygen(folder: Path) -> tuple[Path, Path]:
    """A new key pair in folder; the private key is written owner-only and never overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    private_file, public_file = folder / "signing_key.pem", folder / "signing_key.pub.pem"
    if private_file.exists():
        raise MedtuneError(f"{private_file} exists: keygen never overwrites a key; choose another folder")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public = key.public_key()
    public_file.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_file, public_file


def sign(run_dir: Path, key: Ed25519PrivateKey) -> str:
    """Writes run_dir/manifest.sig.json for the manifest as it is now; returns the key id."""
    manifest = (run_dir / "manifest.json").read_bytes()
    public = key.public_key()
    signature = {
        "algorithm": "ed25519",
        "signed_file": "manifest.json",
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "key_id": key_id(public),
        "public_key": base64.b64encode(public.public_bytes(*RAW)).decode(),
        "signature": base64.b64encode(key.sign(manifest)).decode(),
    }
    (run_dir / SIGNATURE).write_text(json.dumps(signature, indent=2) + "\n")
    return signature["key_id"]


def sign_if_configured(run_dir: Path) -> str | None:
    """A training run's signature, when MEDTUNE_SIGNING_KEY names the key file."""
    source = os.environ.get(KEY_ENV)
    return sign(run_dir, load_private_key(source, KEY_ENV)) if source else None


def check_signature(run_dir: Path, public_key_file: str | None) -> tuple[list[str], str]:
    """(problems, a line saying who signed). With a public key, an unsigned run is a problem."""
    signature_file = run_dir / SIGNATURE
    if not signature_file.is_file():
        if public_key_file:
            return [f"{SIGNATURE}: missing, so nothing shows who produced this run"], "not signed"
        return [], "not signed"
    try:
        entry = json.loads(signature_file.read_text())
        signer = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"]))
        signature = base64.b64decode(entry["signature"])
    except (ValueError, KeyError) as err:
        return [f"{SIGNATURE}: unreadable ({err})"], "signature unreadable"
    problems = []
    try:
        signer.verify(signature, (run_dir / "manifest.json").read_bytes())
    except InvalidSignature:
        problems.append("manifest.json: does not match its signature (changed after signing)")
    if public_key_file:
        expected = load_public_key(public_key_file)
        if key_id(expected) != key_id(signer):
            problems.append(
                f"{SIGNATURE}: signed by key {key_id(signer)}, not by {public_key_file} ({key_id(expected)})"
            )
        return problems, f"signed by key {key_id(signer)}, the given public key"
    return problems, f"signed by key {key_id(signer)} (give --public-key to confirm the signer)"


@exit_on_user_error
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.signing", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("keygen", help="write a new key pair").add_argument("folder", type=Path)
    signer = commands.add_parser("sign", help="sign a finished run's manifest")
    signer.add_argument("run_dir", type=Path)
    signer.add_argument("--key", help=f"private key file (default: ${KEY_ENV})")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        private_file, public_file = keygen(args.folder)
        print(f"private key: {private_file} (keep it secret; set {KEY_ENV}={private_file} to sign runs)")
        print(f"public key:  {public_file} (give it to reviewers: python -m src.verify <run> --public-key)")
        return 0
    source = args.key or os.environ.get(KEY_ENV)
    if not source:
        raise MedtuneError(f"no signing key: give --key FILE or set {KEY_ENV}")
    if not (args.run_dir / "manifest.json").is_file():
        raise MedtuneError(f"{args.run_dir}/manifest.json not found: give the dir of a finished medtune run")
    print(f"{args.run_dir}: signed by key {sign(args.run_dir, load_private_key(source))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
