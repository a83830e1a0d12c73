"""What MODEL_CARD.md says about an eligibility adapter (src/model_card.py writes the rest)."""

from __future__ import annotations

from dataclasses import replace

from src.model_card import TUNED_THRESHOLDS, CardText

ELIGIBILITY_CARD = CardText(
    uses=(
        "Ranks patient records against a clinical trial's inclusion and exclusion criteria, so "
        "that reviewers read the likely-eligible pairs first; pairs below the operating threshold "
        "(chosen for the target recall) may be left unread. It is a pre-screening aid: it never "
        "enrols or excludes a patient, and every flagged pair is checked against the full record."
    ),
    limitations=[TUNED_THRESHOLDS],
)
# The classifier readers (task.reader=criteria | pair) are what src.predict and src.export serve.
CLASSIFIER_CARD = replace(
    ELIGIBILITY_CARD,
    usage=[
        "```",
        "python -m src.predict run=<this run dir> input=pairs.jsonl output=decisions.jsonl",
        "python -m src.export run=<this run dir> out=<dir>   # a standalone merged model",
        "python -m src.verify <this run dir>        # re-hash adapter and data against manifest.json",
        "```",
        "",
        "Each input row holds a patient record and a trial's criteria, in the columns the run was "
        "trained on (rename them with `columns.patient=` and `columns.criteria=`); each output row "
        "holds the decision at the operating threshold, its score P(eligible) and, for the criteria "
        "reader, every criterion's P(met). `adapter/` is a plain peft adapter (safetensors).",
    ],
)
