"""Evidence for predicted codes: the clauses of a note a code's label attention rests on.

The label-attention head (src/models/classifier.py) gives every code a weight per token, summing
to 1 over all tokens of a note's chunks. A code's evidence is the note's clauses ranked by the
share of that attention they hold, as character offsets into the note, best first.

Why clauses (text between a line break, a sentence end, ';' or ': '), not the sentence or a token
window: a clinical note is mostly lists (medications, PMH, labs, A/P items) whose one "sentence"
names many conditions; a clause names one, reads as a unit, and bounds the scope of a negation
("Denies chest pain, cough or fever.") as NegEx-style rules do.

Context rule (a clause never claims a code it denies): a clause is dropped from a code's evidence
  * negated: a negation or rule-out cue ("no", "denies", "negative for", "without", "r/o", ...)
    precedes the attention peak in the clause, or "ruled out" / "excluded" follows it;
  * family history: the clause's line is a family-history section (FH:, Family History:) or the
    clause names a relative, unless the code is itself a family-history code (Z80-Z84).
A code whose attention rests only on such clauses (or on clauses each holding under MIN_SCORE of
it) gets no evidence: an empty list.

Offsets come from the tokenizer's offset mapping, cut into chunks exactly as chunk_texts cuts the
ids (src/data/chunking.py); a token read by two overlapping chunks adds both its weights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from src.data.chunking import even_windows, special_tokens

TOP_SPANS = 3  # spans listed per code
MIN_SCORE = 0.05  # a clause holding less of a code's attention is no evidence for it

_BOUNDARY = re.compile(r"\n|(?<=[.!?])\s+|;\s*|:\s+")
_PRE_CUES = re.compile(
    r"(?<!\w)(?:no|not|denies|denied|deny|negative for|without|never|r/o|rule out|ruled out|possible|"
    r"concern for|cannot exclude|suspect|suspected|free of|absence of)(?!\w)",
    re.IGNORECASE,
)
_POST_CUES = re.compile(r"(?<!\w)(?:ruled out|excluded)(?!\w)", re.IGNORECASE)
_FAMILY_LINE = re.compile(r"\s*(?:family history|fhx?)\s*:", re.IGNORECASE)
_RELATIVES = re.compile(
    r"(?<!\w)(?:mother|father|sister|brother|son|daughter|aunt|uncle|grandmother|grandfather|"
    r"sibling|parent|family|maternal|paternal)s?(?!\w)",
    re.IGNORECASE,
)
FAMILY_CODES = re.compile(r"Z8[0-4]")  # ICD-10-CM family history of ... codes


Offsets = list[list[tuple[int, int] | None]]  # per chunk, per position: (start, end) or None


def token_offsets(
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    overlap: int,
    max_chunks: int,
) -> list[Offsets]:
    """Character offsets of every position of every chunk of each text, as chunk_texts cuts them
    (None at the special tokens). Needs a fast tokenizer (offset mapping)."""
    prefix, suffix = special_tokens(tokenizer)
    window = max_length - len(prefix) - len(suffix)
    mapping = tokenizer(
        list(texts),
        add_special_tokens=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        return_offsets_mapping=True,
    )["offset_mapping"]
    out = []
    for offsets in mapping:
        starts, width = even_windows(len(offsets), window, overlap)
        pad_front, pad_back = [None] * len(prefix), [None] * len(suffix)
        out.append(
            [pad_front + [tuple(o) for o in offsets[s : s + width]] + pad_back for s in starts[:max_chunks]]
        )
    return out


def clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of the note's clauses, whitespace trimmed, in order."""
    spans, start = [], 0
    for match in [*_BOUNDARY.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        if match:
            start = match.end()
    return spans


def context(text: str, clause: tuple[int, int], peak: tuple[int, int], code: str) -> str | None:
    """ "negated", "family" or None: whether the clause may not claim `code` (see the module doc);
    peak: the offsets of the clause's most attended token."""
    start, end = clause
    if _PRE_CUES.search(text, start, peak[0]) or _POST_CUES.search(text, peak[1], end):
        return "negated"
    if FAMILY_CODES.match(code):
        return None
    line_start = text.rfind("\n", 0, start) + 1
    if _FAMILY_LINE.match(text, line_start) or _RELATIVES.search(text, start, end):
        return "family"
    return None


@dataclass
class NoteTokens:
    """A note's tokens (each distinct (start, end) once) and the clause each lies in."""

    text: str
    positions: np.ndarray  # (chunk, position) pairs of real tokens, (n, 2)
    token: np.ndarray  # index into `spans` of each pair (overlapping chunks repeat tokens)
    spans: list[tuple[int, int]]  # distinct token offsets
    clause_of: np.ndarray  # clause index of each distinct token
    clauses: list[tuple[int, int]]

    @classmethod
    def build(cls, text: str, offsets: Offsets) -> NoteTokens:
        pairs, keys = [], []
        for c, chunk in enumerate(offsets):
            for t, span in enumerate(chunk):
                if span is not None and span[1] > span[0]:
                    pairs.append((c, t))
                    keys.append(span)
        spans = sorted(set(keys))
        index = {span: i for i, span in enumerate(spans)}
        parts = clauses(text)
        ends = np.array([end for _, end in parts])
        clause_of = np.searchsorted(ends, [start for start, _ in spans], side="right")
        return cls(
            text,
            np.array(pairs, dtype=np.int64).reshape(-1, 2),
            np.array([index[key] for key in keys], dtype=np.int64),
            spans,
            np.minimum(clause_of, len(parts) - 1),
            parts,
        )

    def summarize(self, attention: np.ndarray) -> ClauseAttention:
        """Each clause's share of every code's attention and its most attended token. attention:
        (chunks, tokens, labels), as the head returned it for this note."""
        per_token = np.zeros((len(self.spans), attention.shape[-1]))
        np.add.at(per_token, self.token, attention[self.positions[:, 0], self.positions[:, 1]])
        mass = np.zeros((len(self.clauses), attention.shape[-1]))
        np.add.at(mass, self.clause_of, per_token)
        peak = np.zeros(mass.shape, dtype=np.int64)
        bounds = np.searchsorted(self.clause_of, np.arange(len(self.clauses) + 1))  # tokens sorted by start
        for k, (first, last) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if last > first:
                peak[k] = first + per_token[first:last].argmax(0)
        return ClauseAttention(self, mass, peak)


@dataclass
class ClauseAttention:
    """A note's clauses with their share of each code's attention (NoteTokens.summarize): small
    enough to keep for every note of an evaluation split, and all that evidence needs."""

    tokens: NoteTokens
    mass: np.ndarray  # (clauses, labels)
    peak: np.ndarray  # (clauses, labels): index into tokens.spans of the most attended token

    def evidence(
        self, code: str, column: int, top: int = TOP_SPANS, with_text: bool = False, annotate: bool = False
    ) -> list[dict]:
        """The clauses supporting one code (label column `column`), best first. annotate: keep the
        clauses the context rule drops, marked "context": "negated" | "family" (not counted in
        `top`; for measuring)."""
        text, mass = self.tokens.text, self.mass[:, column]
        found, kept = [], 0
        for k in np.argsort(-mass, kind="stable"):
            if mass[k] < MIN_SCORE or kept == top:
                break
            start, end = self.tokens.clauses[k]
            span = {"start": start, "end": end, "score": round(float(mass[k]), 4)}
            if with_text:
                span["text"] = text[start:end]
            dropped = context(text, (start, end), self.tokens.spans[self.peak[k, column]], code)
            if dropped and annotate:
                found.append({**span, "context": dropped})
            elif not dropped:
                found.append(span)
                kept += 1
        return found


def note_evidence(
    summary: ClauseAttention,
    codes: Sequence[str],
    columns: dict[str, int],
    with_text: bool = False,
    annotate: bool = False,
) -> dict[str, list[dict]]:
    """{code: spans} for the predicted `codes` of one note; columns: code -> label column; with_text
    and annotate as ClauseAttention.evidence."""
    return {
        code: summary.evidence(code, columns[code], with_text=with_text, annotate=annotate) for code in codes
    }


def with_text(found: dict[str, list[dict]], text: str) -> dict[str, list[dict]]:
    """{code: spans} with each span's text, the context rule's drops left out (for outputs that
    already hold the note: opt-in examples)."""
    return {
        code: [{**span, "text": text[span["start"] : span["end"]]} for span in spans if "context" not in span]
        for code, spans in found.items()
    }


class EvidenceCollector:
    """Keeps each note's ClauseAttention while a label-attention model scores `rows` in order, so
    a run gets its evaluation split's evidence from the scoring pass it makes anyway."""

    def __init__(
        self,
        model: torch.nn.Module,
        rows: Sequence[dict],
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        overlap: int,
        max_chunks: int,
    ):
        self.model = model
        self.texts = [row["text"] for row in rows]
        self.offsets = token_offsets(self.texts, tokenizer, max_length, overlap, max_chunks)
        self.summaries: list[ClauseAttention] = []

    def probabilities(self, batch: dict) -> torch.Tensor:
        """The model's code probabilities for the next batch of the rows, keeping its attention."""
        logits, attention = self.model(**batch, return_attention=True)
        attention, note_index = attention.float().cpu().numpy(), batch["note_index"].cpu().numpy()
        for i in range(int(note_index.max()) + 1):
            k = len(self.summaries)
            tokens = NoteTokens.build(self.texts[k], self.offsets[k])
            self.summaries.append(tokens.summarize(attention[note_index == i]))
        return torch.sigmoid(logits)

    def evidence(
        self, decided: Sequence[Sequence[str]], labels: Sequence[str]
    ) -> list[dict[str, list[dict]]]:
        """Per row {code: spans} for its decided codes, the context rule's drops marked."""
        columns = {code: j for j, code in enumerate(labels)}
        return [
            note_evidence(summary, codes, columns, annotate=True)
            for summary, codes in zip(self.summaries, decided, strict=True)
        ]
