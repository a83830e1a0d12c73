"""What MODEL_CARD.md says about a summarisation adapter (src/model_card.py writes the rest)."""

from __future__ import annotations

from src.model_card import CardText

USES = {
    "radiology": (
        "Drafts the numbered impression of a radiology report for the reading radiologist to edit "
        "and sign. It is a drafting aid: every impression is checked against the images and the "
        "findings before it is signed."
    ),
    "discharge": (
        "Drafts a brief summary of a discharge summary for the discharging clinician to check. "
        "Medications and follow-up in the draft are checked against the full record before use."
    ),
    "operative": (
        "Drafts a short summary of an operative note (operation, diagnosis, outcome) for the "
        "surgeon to check; it never replaces the signed operative note."
    ),
}
GENERATED = (
    "Summaries are generated text: ROUGE and fact recall measure overlap with the reference "
    "summaries, not clinical correctness. unsupported_fact_rate (lower is better) counts the "
    "stated sides, negations, measurements, diagnoses and procedures the note does not state, "
    "as a rule-based extractor reads them: a wrong statement it cannot read is not counted."
)

EXTRACTED = (
    "Summaries are sentences copied from the note (the k best-scored, in note order, k fixed on "
    "the validation slice): they state only what the note states, but may miss what the note "
    "says only across sentences, and ROUGE and fact recall measure overlap with the reference "
    "summaries, not clinical correctness."
)


def summary_card(specialty: str, extractive: bool = False, output_vocab: int | None = None) -> CardText:
    """output_vocab: the word pieces a model.output_vocab=targets model can write (None: all)."""
    limitations = [EXTRACTED if extractive else GENERATED]
    if output_vocab is not None:
        limitations.append(
            f"The model writes only the {output_vocab:,} word pieces of its training and validation "
            "notes and summaries (model.output_vocab=targets): a word spelt with any other piece cannot "
            "appear in a summary."
        )
    return CardText(uses=USES[specialty], limitations=limitations)
