"""MODEL_CARD.md: the manifest, written for a human reviewer.

Everything here comes from manifest.json (counts, settings, metrics, hashes), never from the
data itself, so the card holds no note text.
"""

from __future__ import annotations

USES = {
    "coding": (
        "Suggests ICD-10-CM / CPT codes for a clinical note, for review by a certified coder. "
        "It is a decision-support tool, not an autonomous coder: every suggested code set must be "
        "checked before it is billed or reported."
    ),
    "eligibility": (
        "Ranks patient records against a clinical trial's inclusion and exclusion criteria, so "
        "that reviewers read the likely-eligible pairs first; pairs below the operating threshold "
        "(chosen for the target recall) may be left unread. It is a pre-screening aid: it never "
        "enrols or excludes a patient, and every flagged pair is checked against the full record."
    ),
    "summarize_radiology": (
        "Drafts the numbered impression of a radiology report for the reading radiologist to edit "
        "and sign. It is a drafting aid: every impression is checked against the images and the "
        "findings before it is signed."
    ),
    "summarize_discharge": (
        "Drafts a brief summary of a discharge summary for the discharging clinician to check. "
        "Medications and follow-up in the draft are checked against the full record before use."
    ),
    "summarize_operative": (
        "Drafts a short summary of an operative note (operation, diagnosis, outcome) for the "
        "surgeon to check; it never replaces the signed operative note."
    ),
}
TOP_CODES = 15


def render(manifest: dict) -> str:
    cfg = manifest["config"]
    metrics = manifest["metrics"]
    data = manifest["data"]
    lines = [
        f"# Model card: {manifest['run_name']}",
        "",
        f"LoRA adapter for `{manifest['task']}` on `{manifest['base_model']['name_or_path']}`, "
        f"trained by medtune {manifest['started_at']} – {manifest['finished_at']}.",
        "",
        "## Intended use",
        "",
        USES.get(manifest["task"], "See the task's documentation."),
        "Validated only on data like its evaluation split (below); re-evaluate before use on "
        "notes from another site, specialty or documentation style.",
        "",
        "## Data",
        "",
        _data_section(data, cfg),
        "",
        "## Training settings",
        "",
        _settings_table(cfg),
        "",
        "## Results on the evaluation split",
        "",
        f"Main metric: `{metrics['main_metric']}`. Base = the untuned model (zero-shot), "
        "tuned = with this adapter; delta in percentage points. Brackets: 95% bootstrap "
        "confidence intervals over evaluation notes (paired for the delta).",
        "",
        _results_table(metrics),
        "",
    ]
    change = metrics["delta"].get("audit_failure_relative_change")
    if change is not None:
        lines += [
            f"Audit failures (notes whose code set is not exactly right): {100 * change:+.1f}% "
            "relative to the base model.",
            "",
        ]
    lines += [
        "## Known limitations",
        "",
        *[f"- {item}" for item in _limitations(manifest)],
        "",
        "## How to use it",
        "",
        *(_coding_usage() if _predictable(manifest) else _plain_usage()),
        "",
        "## Lineage",
        "",
        f"- code: git `{manifest['code']['git_commit']}`"
        + (" (uncommitted changes)" if manifest["code"]["dirty"] else ""),
        f"- base weights: {_weights(manifest['base_model'])}",
        *[f"- data `{role}`: sha256 `{f['sha256']}`" for role, f in data["files"].items()],
        *[
            f"- split `{name}`: {s['n']} examples, ids sha256 `{s['ids_sha256']}`"
            for name, s in data["splits"].items()
        ],
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items()),
        f"- hardware: {manifest['hardware']['platform']}, {manifest['hardware']['cpu_count']} CPUs"
        + (
            f", GPUs: {', '.join(manifest['hardware']['cuda_devices'])}"
            if manifest["hardware"]["cuda_devices"]
            else ""
        ),
        "",
    ]
    return "\n".join(lines)


def _predictable(manifest: dict) -> bool:
    """A classifier coding adapter: the one kind src.predict and src.export serve."""
    return manifest["task"] == "coding" and manifest["config"]["model"]["family"] == "classifier"


def _coding_usage() -> list[str]:
    return [
        "```",
        "python -m src.predict run=<this run dir> input=notes.jsonl output=predictions.jsonl",
        "python -m src.verify <this run dir>        # re-hash adapter and data against manifest.json",
        "```",
        "",
        "```python",
        "from src.inference import load_predictor",
        'predictor = load_predictor("<this run dir>")  # adapter merged into the base model',
        "codes = predictor.decide(predictor.predict([note_text]))",
        "```",
        "",
        "`adapter/` is a plain peft adapter (safetensors); `python -m src.export run=<this run dir> "
        "out=<dir>` writes a standalone merged model.",
    ]


def _plain_usage() -> list[str]:
    return [
        "`adapter/` is a plain peft adapter (safetensors); `adapter/medtune.json` holds the label "
        "names, the operating threshold and how inputs were encoded.",
        "",
        "```",
        "python -m src.verify <this run dir>        # re-hash adapter and data against manifest.json",
        "```",
    ]


def _data_section(data: dict, cfg: dict) -> str:
    stats = data["stats"]
    source = cfg["data"].get("path") or "the embedded synthetic notes (medtune's generator; no real patients)"
    out = [
        f"Source: {source}.",
        "",
        "| split | examples |",
        "|---|---|",
        *[f"| {name} | {split['n']} |" for name, split in data["splits"].items()],
        "",
    ]
    if "n_labels" in stats:
        out.append(f"Label space: {stats['n_labels']} codes seen in training.")
    counts = data.get("label_counts", {}).get("train", {})
    if counts:
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CODES]
        name = "code" if cfg["task"]["name"] == "coding" else "label"
        out += [
            "",
            f"Most frequent training {name}s (of {len(counts)}):",
            "",
            f"| {name} | training examples |",
            "|---|---|",
            *[f"| {code} | {n} |" for code, n in top],
        ]
    return "\n".join(out)


def _settings_table(cfg: dict) -> str:
    rows = [
        ("base model", cfg["model"]["name_or_path"]),
        (
            "LoRA",
            f"r={cfg['lora']['r']}, alpha={cfg['lora']['alpha']}, dropout={cfg['lora']['dropout']}, "
            f"targets={', '.join(cfg['lora']['target_modules'])}",
        ),
        ("training examples", cfg["data"]["train_size"] or "all"),
        (
            "epochs / batch / lr",
            f"{cfg['trainer']['max_epochs']} / {cfg['trainer']['batch_size']} / {cfg['trainer']['lr']}",
        ),
        ("precision", cfg["trainer"]["precision"]),
        ("seed", cfg["seed"]),
    ]
    return "\n".join(["| setting | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]])


def _results_table(metrics: dict) -> str:
    intervals = metrics.get("intervals", {})

    def cell(part: str, key: str, scale: float, fmt: str) -> str:
        value = metrics[part][key]
        text = format(value, fmt)
        if key in intervals.get(part, {}):
            low, high = intervals[part][key]
            text += f" [{format(low * scale, fmt)}, {format(high * scale, fmt)}]"
        return text

    rows = ["| metric | base | tuned | delta (pp) |", "|---|---|---|---|"]
    for key in metrics["base"]:
        rows.append(
            f"| {key} | {cell('base', key, 1, '.3f')} | {cell('tuned', key, 1, '.3f')} | "
            f"{cell('delta', key, 1, '+.1f')} |"
        )
    return "\n".join(rows)


def _limitations(manifest: dict) -> list[str]:
    stats = manifest["data"]["stats"]
    out = []
    if not manifest["config"]["data"].get("path"):
        out.append(
            "Trained and evaluated on synthetic notes: the figures show the method works, "
            "not how it performs on your site's notes."
        )
    if stats.get("eval_codes_outside_label_space"):
        out.append(
            f"{stats['eval_codes_outside_label_space']} gold codes in the evaluation split never "
            "occur in training; the model cannot predict codes outside its label space."
        )
    n_eval = next((s["n"] for name, s in manifest["data"]["splits"].items() if name == "eval"), None)
    if n_eval is not None and n_eval < 500:
        out.append(
            f"The evaluation split has {n_eval} examples: see the confidence intervals before comparing runs."
        )
    if (
        manifest["config"]["model"].get("family", "classifier") == "classifier"
        or manifest["task"] == "eligibility"
    ):
        out.append(
            "Decision thresholds were tuned on a validation slice of the training data; "
            "a different case mix may need them re-tuned."
        )
    if manifest["task"].startswith("summarize_"):
        out.append(
            "Summaries are generated text: ROUGE and fact recall measure overlap with the reference "
            "summaries, not clinical correctness, and a fact the model adds is not penalised."
        )
    return out


def _weights(base: dict) -> str:
    weights = base.get("weights_sha256")
    if not weights:
        return base.get("note", "not recorded")
    return ", ".join(f"`{name}` sha256 `{digest}`" for name, digest in weights.items())
