"""What MODEL_CARD.md says about an eligibility adapter (src/model_card.py writes the rest)."""

from __future__ import annotations

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
