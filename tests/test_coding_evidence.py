"""Evidence for predicted codes (src/tasks/coding/evidence.py), the synthetic notes' provenance and
src.predict's evidence output on a tiny trained run (random 2-layer BERT)."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest
import torch
from conftest import NOTES, train_here, write_jsonl
from transformers import AutoTokenizer

from src import predict
from src.data.chunking import chunk_texts
from src.errors import MedtuneError
from src.tasks.coding.evidence import NoteTokens, token_offsets
from src.tasks.coding.evidence_scores import score_evidence
from src.tasks.coding.predictor import Predictor
from src.tasks.coding.synthetic import (
    generate_coding_dataset,
    generate_note,
    generate_note_with_provenance,
    rows_provenance,
)
from src.tasks.coding.synthetic.provenance import locate

# The generator's negation and rule-out words (catalogue_phrases.py): each negated piece has one.
CUES = (
    "no",
    "never",
    "denies",
    "negative",
    "without",
    "ruled out",
    "r/o",
    "rule out",
    "possible",
    "concern",
    "cannot",
    "suspect",
)
CHUNKING = {"max_length": 16, "overlap": 4, "max_chunks": 20}  # short chunks: many boundaries


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(tiny_bert)


def peaked(tokens: NoteTokens, words: dict[str, float], shape: tuple[int, int]) -> np.ndarray:
    """A code's attention (chunks, tokens) putting the given mass on every position of each word
    (a word split into pieces or read by two chunks shares it), the rest spread evenly."""
    attention = np.zeros(shape)
    for word, mass in words.items():
        start = tokens.text.index(word)
        hits = [
            (c, t)
            for (c, t), k in zip(tokens.positions, tokens.token, strict=True)
            if start <= tokens.spans[k][0] < start + len(word)
        ]
        for c, t in hits:
            attention[c, t] += mass / len(hits)
    rest = 1 - attention.sum()
    for c, t in tokens.positions:
        attention[c, t] += rest / len(tokens.positions)
    return attention


def explain(tokenizer, text: str, code: str, words: dict[str, float]) -> list[dict]:
    offsets = token_offsets([text], tokenizer, **CHUNKING)[0]
    tokens = NoteTokens.build(text, offsets)
    attention = peaked(tokens, words, (len(offsets), CHUNKING["max_length"]))
    return tokens.summarize(attention[:, :, None]).evidence(code, 0, with_text=True)


def test_offsets_map_back_to_the_text_across_overlapping_chunks(tokenizer):
    text = " ".join(text for text, _ in NOTES)
    offsets = token_offsets([text], tokenizer, **CHUNKING)[0]
    chunks, _ = chunk_texts([text], tokenizer, **CHUNKING)
    assert len(offsets) == len(chunks[0]) > 3
    seen: dict[tuple[int, int], int] = {}
    for ids, spans in zip(chunks[0], offsets, strict=True):
        assert len(ids) == len(spans) and spans[0] is None and spans[-1] is None  # [CLS] ... [SEP]
        for token, span in zip(tokenizer.convert_ids_to_tokens(ids[1:-1]), spans[1:-1], strict=True):
            assert token.removeprefix("##") == text[span[0] : span[1]].lower()
            seen[span] = seen.get(span, 0) + 1
    assert sum(n == 2 for n in seen.values()) >= 4 * (len(offsets) - 1)  # overlap: read twice


def test_top_span_is_the_clause_holding_the_attention(tokenizer):
    text = "Meds: lisinopril 10 mg daily; metformin 500 mg BID.\nA/P: Essential hypertension, at goal."
    spans = explain(tokenizer, text, "I10", {"hypertension": 0.7, "lisinopril": 0.2})
    assert [span["text"] for span in spans[:2]] == [
        "Essential hypertension, at goal.",
        "lisinopril 10 mg daily",
    ]
    assert all(text[s["start"] : s["end"]] == s["text"] for s in spans)
    assert spans[0]["score"] > 0.7 and spans[0]["score"] >= spans[1]["score"] > 0.2


@pytest.mark.parametrize(
    ("text", "code", "word"),
    [
        ("ROS: Denies chest pain, cough or fever.\nVitals: BP 120/80.", "R07.9", "chest pain"),
        ("Labs: Hgb 13.1. UA bland; UTI ruled out.\nPlan: follow up.", "N39.0", "UTI"),
        ("FH: Mother with breast cancer at 60.\nExam: normal.", "C50.911", "breast cancer"),
        ("Sister had breast cancer at age 53. Exam: normal.", "C50.911", "breast cancer"),
    ],
)
def test_a_code_mentioned_only_negated_or_in_family_history_gets_no_span(tokenizer, text, code, word):
    assert explain(tokenizer, text, code, {word: 0.9}) == []


def test_the_same_mentions_stated_plainly_or_as_family_history_codes_are_evidence(tokenizer):
    assert explain(tokenizer, "Chest pain since Monday.\nVitals: BP 120/80.", "R07.9", {"Chest pain": 0.9})
    fh = explain(
        tokenizer, "FH: Mother with breast cancer at 60.\nExam: normal.", "Z80.3", {"breast cancer": 0.9}
    )
    assert fh[0]["text"] == "Mother with breast cancer at 60."
    # the cue after the peak does not negate it: "Coronary artery disease: no angina."
    assert explain(tokenizer, "CAD, no angina today. Exam: normal.", "I25.10", {"CAD": 0.9})


def test_provenance_leaves_the_notes_unchanged_and_points_at_their_text(tmp_path):
    for i in range(40):
        text, codes, provenance = generate_note_with_provenance(random.Random(f"t:{i}"))
        assert (text, codes) == generate_note(random.Random(f"t:{i}"))
        assert set(provenance["stated"]) == set(codes)  # every gold code is stated somewhere
        for code, spans in provenance["stated"].items():
            assert {tuple(span) for span in spans} <= {tuple(span) for span in provenance["mentions"][code]}
        for start, end in provenance["negated"]:
            piece = text[start:end].lower()
            assert any(cue in piece for cue in CUES), piece
        for start, _ in provenance["family"]:
            line = text[:start].rsplit("\n", 1)[-1]
            assert line.split(":")[0] in ("Family History", "FH", "FHx")
    # The embedded data is byte-identical to the generator before provenance existed (pinned).
    generate_coding_dataset(tmp_path, seed=3, n_train=40, n_eval=10)
    digest = hashlib.sha256((tmp_path / "eval.jsonl").read_bytes()).hexdigest()
    assert digest == "09ea1895ff62e7279e4e7e8442976f5f9a48705037141de93f3b89bb077d3dc8"
    rows = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    found = rows_provenance(rows, seed=3, n_train=40)
    assert set(found) == {row["id"] for row in rows}
    assert rows_provenance(rows, seed=4, n_train=40) == {}  # other notes: nothing claimed
    assert locate("a b a", "a") == [(0, 1), (4, 5)]


def test_score_evidence_counts_hits_and_negated_top_spans():
    rows = [{"id": "n1", "codes": ["I10", "Z80.3"]}]
    provenance = {
        "n1": {
            "stated": {"I10": [[50, 80]], "Z80.3": [[100, 120]]},
            "mentions": {"I10": [[0, 10], [50, 80]], "Z80.3": [[100, 120]]},
            "negated": [[200, 230]],
            "family": [[100, 120]],
        }
    }
    found = [
        {
            "I10": [{"start": 0, "end": 10, "score": 0.6}],  # a mention, not the stating item
            "Z80.3": [{"start": 100, "end": 120, "score": 0.9}],  # family line: right for Z80.3
            "R07.9": [{"start": 200, "end": 230, "score": 0.8, "context": "negated"}],
        }
    ]
    result = score_evidence(rows, [["I10", "Z80.3", "R07.9"]], found, provenance)
    assert result["true_positive_codes"] == 2 and result["evidence_hit_rate"] == 0.5
    assert result["mention_hit_rate"] == 1.0 and result["no_evidence_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert result["top_span_negated_rate"] == 0.0 and result["raw_top_span_negated_rate"] == pytest.approx(
        1 / 3, abs=1e-4
    )
    assert result["top_span_family_rate"] == 0.0  # Z80.3 excepted; I10's top span is no family line


def test_a_run_reports_evidence_and_predict_adds_it_only_when_asked(tmp_path, tiny_bert):
    run = tmp_path / "run"
    metrics = train_here(  # on the embedded synthetic notes, a few of them
        tmp_path,
        run,
        "logger=none",
        *("data.train_size=40", "data.synthetic.val_size=16", "data.eval_size=16"),
        *(f"model.name_or_path={tiny_bert}", "model.lora_top_layers=null", "model.max_length=64"),
        *("data.max_chunks=12", "data.chunk_overlap=8", "trainer.max_epochs=1"),
    )
    # Hit rates against the generator's provenance, for every eval note.
    evidence = metrics["evidence"]
    assert evidence["n_notes"] == 16 and evidence["predicted_codes"] >= 16
    assert all(
        0 <= value <= 1 for key, value in evidence.items() if key.endswith("rate") and value is not None
    )
    # The error report names what drew each false positive's attention: offsets, no text.
    errors = json.loads((run / "errors.json").read_text())
    triggers = errors["false_positive_triggers"]
    assert sum(row["fp"] for row in errors["per_code"]) == len(triggers) > 0
    (eval_file,) = (tmp_path / "cache").glob("synthetic/coding-*/eval.jsonl")
    lengths = {row["id"]: len(row["text"]) for row in map(json.loads, eval_file.read_text().splitlines())}
    for row in triggers:
        assert set(row) == {"id", "code", "start", "end", "score", "context"}
        assert row["start"] is None or 0 <= row["start"] < row["end"] <= lengths[row["id"]]
    counts = metrics["errors"]["false_positives_triggered_by"]
    assert sum(counts.values()) == len(triggers) and "What triggered" in (run / "errors.md").read_text()

    texts = [text for text, _ in NOTES]
    notes = write_jsonl(tmp_path / "notes.jsonl", [{"id": f"p{i}", "text": t} for i, t in enumerate(texts)])
    outputs = {}
    for name, extra in (("plain", []), ("evidence", ["evidence=true"]), ("text", ["evidence_text=true"])):
        out = tmp_path / f"{name}.jsonl"
        predict.main([f"run={run}", f"input={notes}", f"output={out}", "batch_size=3", *extra])
        outputs[name] = [json.loads(line) for line in out.read_text().splitlines()]
    assert all("evidence" not in row for row in outputs["plain"])
    for plain, offsets, with_text, text in zip(*outputs.values(), texts, strict=True):
        assert {k: v for k, v in offsets.items() if k != "evidence"} == plain  # scores unchanged
        assert set(offsets["evidence"]) == set(plain["codes"])
        for code, spans in offsets["evidence"].items():
            assert [
                {k: s[k] for k in ("start", "end", "score")} for s in with_text["evidence"][code]
            ] == spans
            for span, shown in zip(spans, with_text["evidence"][code], strict=True):
                assert set(span) == {"start", "end", "score"} and 0 < span["score"] <= 1
                assert (
                    0 <= span["start"] < span["end"] <= len(text)
                    and shown["text"] == text[span["start"] : span["end"]]
                )
    assert any(spans for row in outputs["evidence"] for spans in row["evidence"].values())


def test_evidence_from_a_pooled_head_is_one_clear_error():
    pooled = Predictor(
        model=None, tokenizer=None, meta={"model": {"head": "pooled"}}, device=torch.device("cpu")
    )
    with pytest.raises(MedtuneError, match="model.head=label_attention"):
        pooled.predictions([{"text": "HTN."}], evidence=True)
