"""MODEL_CARD.md: the manifest, written for a human reviewer.

Everything here comes from manifest.json (counts, settings, metrics, hashes), never from the
data itself, so the card holds no note text.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CardText:
    """What a task's package says in the card (Task.card): the rest is the same for every task."""

    uses: str = "See the task's documentation."
    limitations: list[str] = field(default_factory=list)  # besides the data and split-size ones
    usage: list[str] | None = None  # "How to use it" lines; None: the adapter and src.verify
    label_noun: str = "label"  # what the training label counts are counts of ("code", ...)


TOP_CODES = 15
# A limitation of every task whose decision threshold is tuned on the validation slice.
TUNED_THRESHOLDS = (
    "Decision thresholds were tuned on a validation slice of the training data; "
    "a different case mix may need them re-tuned."
)


def render(manifest: dict, card: CardText) -> str:
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
        card.uses,
        "Validated only on data like its evaluation split (below); re-evaluate before use on "
        "notes from another site, specialty or documentation style.",
        "",
        "## Data",
        "",
        _data_section(data, cfg, card.label_noun),
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
    reference = metrics.get("reference")  # Task.evaluate_reference's block; older manifests lack it
    if reference is not None:
        lines += ["## Against a naive reference", "", *reference_lines(metrics, reference), ""]
    change = metrics["delta"].get("audit_failure_relative_change")
    if change is not None:
        lines += [
            f"Audit failures (notes whose code set is not exactly right): {100 * change:+.1f}% "
            "relative to the base model.",
            "",
        ]
    change = metrics["delta"].get("code_error_relative_change")
    if change is not None:
        lines += [
            "Code errors (of the codes an auditor reviews, the share to delete or add): "
            f"{100 * change:+.1f}% relative to the base model.",
            "",
        ]
    lines += [
        "## Known limitations",
        "",
        *[f"- {item}" for item in [*_limitations(manifest), *card.limitations]],
        "",
        "## How to use it",
        "",
        *(card.usage if card.usage is not None else _plain_usage()),
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


def _plain_usage() -> list[str]:
    return [
        "`adapter/` is a plain peft adapter (safetensors); `adapter/medtune.json` holds the label "
        "names, the operating threshold and how inputs were encoded.",
        "",
        "```",
        "python -m src.verify <this run dir>        # re-hash adapter and data against manifest.json",
        "```",
    ]


def _data_section(data: dict, cfg: dict, name: str) -> str:
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
            f"{cfg['trainer']['max_epochs']} / {cfg['loop']['batch_size']} / {cfg['loop']['lr']}",
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


def reference_lines(metrics: dict, reference: dict) -> list[str]:
    """What the reference is, its main metric beside the tuned model's, and plainly whether the
    tuned model beats it (tuned - reference > 0, and its 95% interval above 0)."""
    main = metrics["main_metric"]
    tuned, ref = metrics["tuned"][main], reference["metrics"][main]
    delta = reference["delta"][main]
    low, high = reference["intervals"]["delta"].get(main, [float("nan")] * 2)
    figures = (
        f"`{main}` {tuned:.3f} tuned vs {ref:.3f} for the reference "
        f"(tuned - reference {delta:+.1f} pp, 95% interval {low:+.1f} to {high:+.1f})"
    )
    if delta <= 0:
        verdict = f"**The tuned model does not beat the naive reference**: {figures}."
    elif not low > 0:
        verdict = f"The tuned model is ahead of the naive reference, but not clearly: {figures}."
    else:
        verdict = f"The tuned model beats the naive reference: {figures}."
    lines = [
        f"Reference: **{reference['name']}**, {reference['description']}; no model, scored on the same "
        "evaluation split as base and tuned, the delta interval paired over the same examples.",
        "",
        verdict,
        "",
        "| metric | reference | tuned - reference (pp) |",
        "|---|---|---|",
        *[
            f"| {key} | {_with_interval(value, reference['intervals']['reference'].get(key), '.3f')} | "
            f"{_with_interval(reference['delta'][key], reference['intervals']['delta'].get(key), '+.1f')} |"
            for key, value in reference["metrics"].items()
        ],
    ]
    others = {n: c for n, c in reference.get("candidates", {}).items() if n != reference["name"]}
    if others:
        lines += [
            "",
            f"Chosen by the {reference['chosen_on']} over: "
            + "; ".join(
                f"{n} (`{main}` {c['metrics'][main]:.3f} on the evaluation split)" for n, c in others.items()
            )
            + ".",
        ]
    return lines


def _with_interval(value: float, interval: list[float] | None, fmt: str) -> str:
    text = format(value, fmt)
    return text if interval is None else f"{text} [{format(interval[0], fmt)}, {format(interval[1], fmt)}]"


def _limitations(manifest: dict) -> list[str]:
    """The limitations every task shares; Task.card adds its own."""
    out = []
    if not manifest["config"]["data"].get("path"):
        out.append(
            "Trained and evaluated on synthetic notes: the figures show the method works, "
            "not how it performs on your site's notes."
        )
    n_eval = next((s["n"] for name, s in manifest["data"]["splits"].items() if name == "eval"), None)
    if n_eval is not None and n_eval < 500:
        out.append(
            f"The evaluation split has {n_eval} examples: see the confidence intervals before comparing runs."
        )
    return out


def _weights(base: dict) -> str:
    weights = base.get("weights_sha256")
    if not weights:
        return base.get("note", "not recorded")
    return ", ".join(f"`{name}` sha256 `{digest}`" for name, digest in weights.items())
