"""Codes outside the training labels (data.label_space): scored from their descriptions.

The trained head scores only the codes of the training notes. With data.label_space=icd10cm (every
billable ICD-10-CM code) or a file of codes, each candidate code the training notes never carry
gets a score per note: the best cosine similarity between its description's embedding and the
note's sentences' embeddings (mean-pooled encoder states). Which encoder (the base one, or the
tuned one with its adapter merged), which hierarchy rule and which per-note top-m and threshold
add such codes to the head's code set is chosen on the validation slice by micro-F1 over all
codes; when no setting beats the head alone there, none is added. The head's decisions for its
own codes never change. Similarity ranks the right unseen code first for ~6% of them (CodiEsp),
so the additions are few and of low precision: the point is recall that was zero, not F1.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import simple_icd_10_cm as icd
import torch

from src.data.caches import record_sources
from src.errors import MedtuneError
from src.models import build
from src.models.classifier import embed_texts
from src.tasks.coding.codes import code_description, icd_category, normalize_code
from src.tasks.coding.metrics import bootstrap_intervals, coding_metrics

if TYPE_CHECKING:  # data.py imports this module
    from omegaconf import DictConfig

    from src.tasks.coding.data import CodingRows

log = logging.getLogger(__name__)
RULES = ("none", "category_seen", "category_predicted")  # hierarchy filters, see allowed()
TOP_M = (1, 2, 3)  # unseen codes added per note at most
N_THRESHOLDS = 25
DESCRIPTION_TOKENS = 64  # ICD-10-CM descriptions are short
TEXTS_PER_PASS = 512  # sentences or descriptions per encoder call (sorted by length: little padding)
NOTES_PER_PASS = 256  # notes whose sentences note_scores embeds together (their vectors stay in memory)


@cache
def billable_codes() -> tuple[str, ...]:
    """Every billable (leaf) ICD-10-CM code of the built-in table, dotted. (Dotted by hand: the
    table's add_dot takes seconds per thousand codes; a few blocks are leaves too, hence the filter.)"""
    return tuple(
        code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"
        for code in icd.get_all_codes(False)
        if icd.is_leaf(code) and (icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code))
    )


def read_code_file(path: str) -> list[str]:
    """Canonical codes of a file, one a line (blank lines and # comments skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise MedtuneError(
            f"data.label_space={path}: cannot read it ({err}); give train, icd10cm or a text file "
            "of codes, one a line"
        ) from None
    codes = []
    for number, line in enumerate(lines, 1):
        raw = line.split("#", 1)[0].strip()
        if not raw:
            continue
        code = normalize_code(raw)
        if code is None:
            raise MedtuneError(
                f"{path}:{number}: {raw!r} is not a valid ICD-10-CM or CPT code (data.label_space); "
                "fix or delete that line (one code a line, e.g. E11.9)"
            )
        codes.append(code)
    if not codes:
        raise MedtuneError(f"{path}: no codes (data.label_space); write one code a line, e.g. E11.9")
    return sorted(set(codes))


def candidate_codes(label_space: str, train_labels: Sequence[str]) -> list[str]:
    """Codes scored from their descriptions: the label space's codes the head does not have."""
    if label_space == "train":
        return []
    if label_space == "icd10cm":
        codes = billable_codes()
    else:
        codes = read_code_file(label_space)
    seen = set(train_labels)
    return [code for code in codes if code not in seen and code_description(code)]


def sentences(text: str) -> list[str]:
    """A note's sentences (and lines): the units whose best match scores a code."""
    parts = [p.strip() for p in re.split(r"(?<=[.;!?])\s+|\n+", text)]
    return [p for p in parts if len(p) > 3] or [text]


def description_vectors(
    encoder: torch.nn.Module, tokenizer, codes: list[str], cache_key: str | None, cache_dir: str | None
) -> torch.Tensor:
    """Embeddings of the codes' descriptions; cached under cache_dir/descriptions when a key is given
    (the base encoder: the same for every run on that model and code table)."""
    path = None
    if cache_key and cache_dir:
        digest = hashlib.sha256("\n".join([cache_key, icd_table_version(), *codes]).encode()).hexdigest()[:20]
        path = Path(cache_dir) / "descriptions" / f"{digest}.npy"
        if path.exists():
            return torch.from_numpy(np.load(path))
    descriptions = [code_description(code) for code in codes]
    vectors = embed_texts(encoder, tokenizer, descriptions, DESCRIPTION_TOKENS, TEXTS_PER_PASS)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, vectors.numpy())
        tmp.replace(path)
        record_sources(path, {}, model=cache_key, n_codes=len(codes))
    return vectors


def icd_table_version() -> str:
    return f"simple_icd_10_cm {importlib.metadata.version('simple_icd_10_cm')}"


def note_scores(
    encoder: torch.nn.Module, tokenizer, texts: list[str], codes: torch.Tensor, max_length: int
) -> np.ndarray:
    """(notes, codes): each code's best cosine similarity over a note's sentences. The sentences of
    up to NOTES_PER_PASS notes are embedded together, so a forward pass holds sentences of similar
    length from many notes (embed_texts sorts them) instead of one note's few, short and long."""
    out = np.empty((len(texts), len(codes)), dtype=np.float32)
    for start in range(0, len(texts), NOTES_PER_PASS):
        notes = [sentences(text) for text in texts[start : start + NOTES_PER_PASS]]
        units = [unit for note in notes for unit in note]
        units = embed_texts(encoder, tokenizer, units, max_length, TEXTS_PER_PASS)
        for i, note_units in enumerate(units.split([len(note) for note in notes])):
            out[start + i] = (note_units @ codes.T).max(0).values.numpy()
    return out


def allowed(
    rule: str, candidates: list[str], train_labels: Sequence[str], seen_pred: list[list[str]]
) -> np.ndarray:
    """(notes, candidates) mask of the unseen codes a hierarchy rule lets through:
    none: all; category_seen: those whose 3-character category holds a training code;
    category_predicted: those whose category holds a code the head predicted for the note."""
    category = np.array([icd_category(code) or code for code in candidates])
    if rule == "none":
        return np.ones((len(seen_pred), len(candidates)), dtype=bool)
    if rule == "category_seen":
        seen = {icd_category(code) for code in train_labels}
        return np.broadcast_to(np.isin(category, list(seen)), (len(seen_pred), len(candidates)))
    if rule == "category_predicted":
        return np.stack([np.isin(category, [icd_category(c) for c in codes]) for codes in seen_pred])
    raise ValueError(f"unknown hierarchy rule {rule!r}")


@dataclass
class UnseenDecision:
    """Adds at most top_m unseen codes per note, those scoring >= threshold and let through by rule."""

    encoder: str  # "base" | "tuned"
    rule: str
    top_m: int
    threshold: float | None  # None: add none

    def to_dict(self) -> dict:
        return asdict(self)


def merge(
    seen_pred: list[list[str]],
    scores: np.ndarray,
    candidates: list[str],
    mask: np.ndarray,
    top_m: int,
    threshold: float | None,
) -> list[list[str]]:
    """The head's code set of each note plus its top_m best unseen codes scoring >= threshold
    (None: none); a code the head already predicted is never added twice."""
    top_m = min(top_m, scores.shape[1]) if threshold is not None else 0
    if not top_m:
        return [sorted(codes) for codes in seen_pred]
    masked = np.where(mask, scores, -np.inf)
    top = np.argpartition(-masked, top_m - 1, axis=1)[:, :top_m]
    out = []
    for i, codes in enumerate(seen_pred):
        added = [candidates[j] for j in top[i] if masked[i, j] >= threshold and candidates[j] not in codes]
        out.append(sorted({*codes, *added}))
    return out


def split_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], seen: set[str]) -> dict:
    """Micro precision / recall / F1 over the codes seen in training and over the others."""
    out = {}
    for name, keep in (("seen", lambda c: c in seen), ("unseen", lambda c: c not in seen)):
        tp = fp = fn = 0
        for g, p in zip(gold, pred, strict=True):
            g, p = {c for c in g if keep(c)}, {c for c in p if keep(c)}
            tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        out[name] = {
            "micro_precision": precision,
            "micro_recall": recall,
            "micro_f1": f1,
            "gold": tp + fn,
            "predicted": tp + fp,
            "correct": tp,
        }
    return out


def only(codes: Sequence[Sequence[str]], seen: set[str], keep_seen: bool) -> list[list[str]]:
    """The seen (or the unseen) codes of each note's set."""
    return [[c for c in row if (c in seen) == keep_seen] for row in codes]


def tune(
    seen_pred: list[list[str]],
    scores: dict[str, np.ndarray],
    candidates: list[str],
    train_labels: Sequence[str],
    gold: list[list[str]],
) -> tuple[UnseenDecision, dict]:
    """The setting with the best validation micro-F1 over all codes (head + additions); the head
    alone (threshold inf) unless a setting beats it. scores: encoder name -> (notes, candidates).
    Returns it and its validation figures, with the best of every encoder x rule for comparison."""
    seen = set(train_labels)

    def figures(pred: list[list[str]]) -> dict:
        return {"micro_f1": coding_metrics(gold, pred)["micro_f1"], **split_metrics(gold, pred, seen)}

    best = UnseenDecision("base", "none", 0, None)
    best_fig = figures(seen_pred)
    compared = {}
    for name, encoder_scores in scores.items():
        for rule in RULES:
            mask = allowed(rule, candidates, train_labels, seen_pred)
            tops = np.where(mask, encoder_scores, -np.inf).max(1)
            tops = tops[np.isfinite(tops)]
            grid = np.unique(np.quantile(tops, np.linspace(0, 1, N_THRESHOLDS))) if len(tops) else []
            for top_m in TOP_M:
                for threshold in grid:
                    decision = UnseenDecision(name, rule, top_m, float(threshold))
                    fig = figures(merge(seen_pred, encoder_scores, candidates, mask, top_m, float(threshold)))
                    key = f"{name}/{rule}"
                    if key not in compared or fig["micro_f1"] > compared[key]["micro_f1"]:
                        compared[key] = {**fig, "decision": decision.to_dict()}
                    if fig["micro_f1"] > best_fig["micro_f1"] + 1e-12:
                        best, best_fig = decision, fig
    return best, {"chosen": best_fig, "head_only": figures(seen_pred), "best_per_encoder_and_rule": compared}


def split_scores(
    encoder: torch.nn.Module, rows: CodingRows, tokenizer, cfg: DictConfig, cache_key: str | None
) -> tuple[torch.Tensor, dict]:
    """The candidates' description embeddings by one encoder, and {split: (notes, candidates)} the
    description similarities of the val and eval notes."""
    codes = description_vectors(encoder, tokenizer, rows.unseen_candidates, cache_key, cfg.paths.cache_dir)
    return codes, {
        split: note_scores(
            encoder, tokenizer, [r["text"] for r in getattr(rows, split)], codes, cfg.model.max_length
        )
        for split in ("val", "eval")
    }


def add_unseen(
    model: torch.nn.Module, rows: CodingRows, tokenizer, cfg: DictConfig, head: dict[str, list[list[str]]]
) -> tuple[dict, dict | None, torch.Tensor | None]:
    """Each split's head code sets (head: {"val", "eval"}) plus the unseen codes of rows.unseen_candidates
    that the setting tuned on the validation slice adds; that setting (None without candidates); and
    the description embeddings it scores with (None when it adds nothing), which the adapter saves
    (unseen_scorer.py). model: the tuned PEFT model, scored with its adapter merged; the base encoder
    is loaded afresh."""
    if not rows.unseen_candidates:
        return head, None, None
    vectors, scores = {}, {}
    model.merge_adapter()
    try:
        vectors["tuned"], scores["tuned"] = split_scores(
            model.get_base_model().encoder, rows, tokenizer, cfg, None
        )
    finally:
        model.unmerge_adapter()
    encoder = build.load_encoder(cfg.model).eval().to(next(model.parameters()).device)
    vectors["base"], scores["base"] = split_scores(encoder, rows, tokenizer, cfg, cfg.model.name_or_path)
    candidates, val_gold = rows.unseen_candidates, [row["codes"] for row in rows.val]
    chosen, figures = tune(
        head["val"], {k: v["val"] for k, v in scores.items()}, candidates, rows.labels, val_gold
    )
    merged = {}
    for split, pred in head.items():
        mask = allowed(chosen.rule, candidates, rows.labels, pred)
        merged[split] = merge(
            pred, scores[chosen.encoder][split], candidates, mask, chosen.top_m, chosen.threshold
        )
    if chosen.threshold is None:
        log.info(
            "data.label_space=%s: no description-scored setting beat the trained head alone on the "
            "validation slice; no unseen code is added, and the adapter predicts the trained codes",
            cfg.data.label_space,
        )
    else:
        log.info(
            "data.label_space=%s: up to %d unseen codes a note scored from descriptions (%s encoder, "
            "cosine >= %.4g); the adapter saves this scorer, so src.predict, src.serve and exports add "
            'them too, marked "source": "description"',
            cfg.data.label_space,
            chosen.top_m,
            chosen.encoder,
            chosen.threshold,
        )
    report = {**chosen.to_dict(), "validation": figures, "n_candidates": len(candidates)}
    return merged, report, None if chosen.threshold is None else vectors[chosen.encoder]


def report(
    gold: list[list[str]], predictions: dict, rows: CodingRows, cfg: DictConfig, decision: dict | None
) -> dict:
    """metrics.json's seen / unseen blocks (codes of the training labels vs the others) for base and
    tuned, with bootstrap intervals, and what the unseen scorer chose."""
    seen, out = set(rows.labels), {}
    for name, keep in (("seen", True), ("unseen", False)):
        part = [only(codes, seen, keep) for codes in (gold, predictions["base"], predictions["tuned"])]
        out[name] = {
            model: split_metrics(gold, predictions[model], seen)[name] for model in ("base", "tuned")
        }
        if any(codes for rows in part for codes in rows):  # nothing to resample otherwise
            out[name]["intervals"] = {
                model: {k: v for k, v in values.items() if k.startswith("micro")}
                for model, values in bootstrap_intervals(*part, seed=cfg.seed).items()
            }
    out["unseen_scorer"] = {"label_space": cfg.data.label_space, **(decision or {})}
    return out
