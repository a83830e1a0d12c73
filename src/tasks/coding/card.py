"""What MODEL_CARD.md says about a coding adapter (src/model_card.py writes the rest)."""

from __future__ import annotations

from src.model_card import TUNED_THRESHOLDS, CardText

USES = (
    "Suggests ICD-10-CM / CPT codes for a clinical note, for review by a certified coder. "
    "It is a decision-support tool, not an autonomous coder: every suggested code set must be "
    "checked before it is billed or reported."
)
# A classifier adapter is what src.predict and src.export serve.
CLASSIFIER_USAGE = [
    "```",
    "python -m src.predict run=<this run dir> input=notes.jsonl output=predictions.jsonl",
    "python -m src.verify <this run dir>        # re-hash adapter and data against manifest.json",
    "```",
    "",
    "```python",
    "from src.inference import load_predictor",
    'predictor = load_predictor("<this run dir>")  # adapter merged into the base model',
    'codes = predictor.predictions([{"text": note_text}])[0]["codes"]',
    "```",
    "",
    "`adapter/` is a plain peft adapter (safetensors); `python -m src.export run=<this run dir> "
    "out=<dir>` writes a standalone merged model.",
]


def coding_card(manifest: dict, classifier: bool) -> CardText:
    limitations = []
    stats = manifest["data"]["stats"]
    unseen = stats.get("eval_codes_outside_label_space")
    if unseen and stats.get("n_unseen_candidates"):  # data.label_space beyond the training codes
        limitations.append(
            f"{unseen} gold codes in the evaluation split never occur in training; the run scored "
            f"{stats['n_unseen_candidates']:,} such codes from their descriptions "
            f"(data.label_space={stats['label_space']}, see metrics.json's unseen block). "
            + _unseen_text(manifest["metrics"].get("unseen_scorer") or {})
        )
    elif unseen:
        limitations.append(
            f"{unseen} gold codes in the evaluation split never occur in training; the model cannot "
            "predict codes outside its label space."
        )
    if classifier:
        limitations.append(TUNED_THRESHOLDS)
    review = manifest["metrics"].get("review")  # runs made before the review queue lack it
    if review:
        limitations.append(_review_text(review))
    return CardText(
        uses=USES,
        limitations=limitations,
        usage=CLASSIFIER_USAGE if classifier else None,
        label_noun="code",
    )


def _unseen_text(scorer: dict) -> str:
    """What prediction does with codes outside the training labels (unseen_scorer.py)."""
    if scorer.get("threshold") is None:
        return (
            "No such setting beat the trained head alone on the validation slice, so none is added: "
            "the model predicts the trained codes only."
        )
    return (
        f"The setting chosen on the validation slice ({scorer['encoder']} encoder, at most "
        f"{scorer['top_m']} a note, cosine similarity >= {scorer['threshold']:.4g}) is saved with the "
        "adapter: src.predict, src.serve and exports add such codes as the evaluation did, each listed "
        'under "unseen" with "source": "description" and its similarity, which is not a probability.'
    )


def _review_text(review: dict) -> str:
    target = f"{review['bounds']} <= {review['target']:.0%} among auto-accepted notes"
    if review["validation"]["accepted"] == 0:
        return (
            f"Review queue: no confidence threshold met {target} on the validation slice; "
            "every note goes to review."
        )
    point = review["eval"]
    return (
        f"Review queue: notes with calibrated confidence >= {review['threshold']:.4g} are auto-accepted "
        f'(src.predict\'s "route"), a threshold set on the validation slice for {target}. On the '
        f"evaluation split it auto-accepted {point['coverage']:.1%} of notes, {point['risk']:.1%} of which "
        f"fail the audit ({point['code_risk']:.1%} of their codes wrong or missing); check both on your "
        "own notes before relying on it."
    )
