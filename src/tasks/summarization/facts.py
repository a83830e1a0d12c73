"""Key clinical facts of a summary, found by rules and word lists (no model), and how they match.

A fact is {"kind", "text"}: `text` is a readable normal form, `fact_key` the looser form two
facts are compared by. The same extractor reads reference summaries (the facts of user data)
and model outputs, so a reference fact counts as kept exactly when the extractor finds a fact
with the same key in the output. Kinds:

- negation: a cue (no, without, negative for, free of, absence of, denies) followed, in the
  same clause, by a list of findings; each finding is a fact "no <finding>". Leading fillers
  ("evidence of", "any", "signs of") are dropped from the text and hedging modifiers (acute,
  new, significant, ...) from the key, so "No evidence of acute fracture" matches "No fracture".
  The clause ends at . ; : a preposition or a contrast word (but, however, except, ...). A
  finding stated without its cue is no negation: a flipped negation counts as missing.
- laterality: a side (left, right, bilateral; also L, R, lt, rt, bilat, left-sided) bound to
  the first word of ANATOMY in the three words after it ("right lower lobe"), or, when none
  follows, the nearest one in the three words before ("effusion on the left"). The key is
  side + that word, so the side must stay with the structure it belongs to.
- measurement: numbers with a unit (mm, cm, mL, cc, mg, mcg, g, kg, %, mmHg, units), also
  "3.2 x 2.1 cm"; the key converts cm to mm, cc to mL and g/mcg to mg, so "12 mm" matches
  "1.2 cm" and "5 millimeters" matches "5 mm".
- diagnosis: terms of DIAGNOSES (synonyms share one name: "PNA" -> pneumonia), else a word with
  a disease suffix (-itis, -osis, -emia, -oma, -pathy, ...); acuity adjectives are not part of
  it ("acute appendicitis" -> appendicitis). Inside a negation clause it is a negation instead.
- procedure: a word with a procedure suffix (-ectomy, -otomy, -ostomy, -plasty, -oscopy, ...),
  or a procedure noun (repair, bypass, biopsy, ...) with the word before it unless that is an
  approach adjective ("hernia repair", "gastric bypass"; "laparoscopic repair" -> repair).

Limits on free text: conditions outside the word lists and suffixes are not seen, and
negations written after the finding ("pneumothorax is not seen") are not read as negations.
Comparison ignores case and whitespace throughout.

Support: a fact of a summary is supported by its source note when the extractor finds a fact
with the same key in the note (unsupported_facts). So a side the note gives another structure
or does not give, a negation the note does not state, a measurement it does not contain, and a
finding the note negates ("No pneumothorax." -> "Pneumothorax.": the note's fact is a negation,
the summary's a diagnosis) are unsupported. The limits above apply to the note too: a note
saying "pneumothorax is not seen" supports "pneumothorax".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

FACT_KINDS = ("laterality", "negation", "measurement", "diagnosis", "procedure")
SIDES = ("left", "right", "bilateral")


Phrases = dict[str, list[tuple[str, ...]]]  # first word -> phrases starting with it, longest first


def _index(phrases: Iterable[tuple[str, ...]]) -> Phrases:
    index: Phrases = {}
    for phrase in sorted(set(phrases), key=len, reverse=True):  # so "lower lobe" beats "lobe"
        index.setdefault(phrase[0], []).append(phrase)
    return index


def _phrases(block: str) -> Phrases:
    """Comma-separated phrases -> an index of their word tuples."""
    return _index(tuple(part.split()) for part in block.split(",") if part.strip())


ANATOMY = _phrases(
    """upper lobe, middle lobe, lower lobe, lobe, lung, hemithorax, apex, chest, breast, axilla,
    kidney, ureter, adrenal, ovary, adnexa, testis, hemiscrotum, groin, inguinal, hip, knee, ankle,
    foot, hand, wrist, elbow, shoulder, arm, forearm, leg, thigh, calf, femur, tibia, fibula,
    humerus, radius, clavicle, rib, eye, ear, neck, hemisphere, frontal lobe, parietal lobe,
    temporal lobe, occipital lobe, cerebellar hemisphere, basal ganglia, thalamus, thyroid lobe,
    carotid, femoral vein, popliteal vein, vein, artery, effusion, pneumothorax, nodule, mass, cyst,
    fracture, hernia, infarct, hematoma, tear, meniscus, stone, hydronephrosis, consolidation,
    opacity, carpal tunnel, hemicolectomy, mastectomy, nephrectomy, lumpectomy, arthroplasty, colon"""
)

# surface form -> canonical name; None marks phrases that only look like a diagnosis.
DIAGNOSES: dict[tuple[str, ...], str | None] = {}
for _canonical, _synonyms in {
    "pneumonia": "pneumonia, pna, community-acquired pneumonia, aspiration pneumonia",
    "pleural effusion": "pleural effusion, pleural effusions",
    "effusion": "effusion, effusions",
    "pneumothorax": "pneumothorax",
    "pulmonary edema": "pulmonary edema, interstitial edema",
    "atelectasis": "atelectasis",
    "pulmonary embolism": "pulmonary embolism, pulmonary emboli, pulmonary embolus",
    "nodule": "nodule, pulmonary nodule, nodules",
    "thyroid nodule": "thyroid nodule",
    "mass": "mass",
    "cyst": "cyst, simple cyst",
    "ovarian cyst": "ovarian cyst",
    "fracture": "fracture, fractures",
    "tear": "tear",
    "intracranial hemorrhage": "intracranial hemorrhage",
    "subdural hematoma": "subdural hematoma",
    "infarct": "infarct, infarction",
    "stroke": "stroke, cva, cerebrovascular accident",
    "hydrocephalus": "hydrocephalus",
    "small vessel ischemic disease": "small vessel ischemic disease",
    "ureteral stone": "ureteral stone, ureteral calculus",
    "nephrolithiasis": "nephrolithiasis, kidney stone, renal stone, renal calculus",
    "small bowel obstruction": "small bowel obstruction, sbo",
    "bowel obstruction": "bowel obstruction",
    "abscess": "abscess",
    "ascites": "ascites",
    "free air": "free air, pneumoperitoneum",
    "deep vein thrombosis": "deep vein thrombosis, dvt, deep venous thrombosis",
    "meniscal tear": "meniscal tear, meniscus tear",
    "anterior cruciate ligament tear": "anterior cruciate ligament tear, acl tear",
    "disc herniation": "disc herniation, disc protrusion, herniated disc",
    "joint effusion": "joint effusion",
    "emphysema": "emphysema",
    "heart failure": "heart failure, congestive heart failure, chf",
    "copd": "copd, chronic obstructive pulmonary disease, copd exacerbation",
    "diabetic ketoacidosis": "diabetic ketoacidosis, dka",
    "gastrointestinal bleeding": "gastrointestinal bleeding, gi bleed, gastrointestinal bleed, "
    "upper gastrointestinal bleeding, upper gi bleed",
    "sepsis": "sepsis, urosepsis",
    "urinary tract infection": "urinary tract infection, uti",
    "atrial fibrillation": "atrial fibrillation, afib, a-fib",
    "myocardial infarction": "myocardial infarction, nstemi, stemi, non-st elevation myocardial infarction",
    "hypertension": "hypertension, htn",
    "diabetes": "diabetes, diabetes mellitus, type 2 diabetes mellitus, type 2 diabetes, t2dm",
    "chronic kidney disease": "chronic kidney disease, ckd",
    "acute kidney injury": "acute kidney injury, aki",
    "coronary artery disease": "coronary artery disease, cad",
    "asthma": "asthma",
    "obesity": "obesity",
    "morbid obesity": "morbid obesity",
    "sleep apnea": "sleep apnea, obstructive sleep apnea, osa",
    "dementia": "dementia",
    "depression": "depression",
    "syncope": "syncope",
    "delirium": "delirium",
    "alcohol withdrawal": "alcohol withdrawal",
    "hypothyroidism": "hypothyroidism",
    "gout": "gout",
    "benign prostatic hyperplasia": "benign prostatic hyperplasia, bph",
    "cancer": "cancer",
    "colon cancer": "colon cancer",
    "breast cancer": "breast cancer",
    "inguinal hernia": "inguinal hernia",
    "umbilical hernia": "umbilical hernia",
    "ventral hernia": "ventral hernia, incisional hernia",
    "hernia": "hernia",
    "carpal tunnel syndrome": "carpal tunnel syndrome",
    "perforated appendicitis": "perforated appendicitis",
    "gangrenous cholecystitis": "gangrenous cholecystitis",
    "ankle fracture": "ankle fracture, bimalleolar ankle fracture, trimalleolar ankle fracture",
    "hip fracture": "hip fracture, femoral neck fracture, intertrochanteric fracture",
    "uterine fibroids": "uterine fibroids, fibroid uterus, fibroids",
    "menorrhagia": "menorrhagia",
    "goiter": "goiter, multinodular goiter",
    "cataract": "cataract",
    "tonsillar hypertrophy": "tonsillar hypertrophy",
}.items():
    for _surface in _synonyms.split(","):
        DIAGNOSES[tuple(_surface.split())] = _canonical
DIAGNOSES[("mass", "effect")] = None  # a sign, and "mass" alone is a diagnosis
_DIAGNOSIS_PHRASES = _index(DIAGNOSES)
_DISEASE_SUFFIX = re.compile(r"[a-z]{3,}(itis|osis|iasis|emia|oma|pathy|megaly|plegia|trophy|algia|ectasis)")
_NOT_DISEASES = frozenset("diagnosis prognosis anastomosis stoma aroma diploma empathy sympathy".split())

_PROCEDURE_SUFFIX = re.compile(r"[a-z]{2,}(ectomy|otomy|ostomy|plasty|oscopy|opexy|orrhaphy|odesis|centesis)")
_PROCEDURE_NOUNS = frozenset(
    """repair bypass biopsy excision resection fixation reduction release drainage debridement
    fusion ablation amputation replacement insertion placement reconstruction revision
    exploration section transplant catheterization""".split()
)
_APPROACH = frozenset(
    """laparoscopic robotic open endoscopic percutaneous arthroscopic total partial primary
    elective emergent urgent diagnostic exploratory simple radical modified left right bilateral
    and or of with the a an for to in on via under""".split()
)

_NEGATION_CUES = _phrases("negative for, free of, absence of, no, without, denies, denied")
_FILLERS = frozenset("evidence of any signs sign findings the a an".split())
_MODIFIERS = frozenset(
    """acute new significant definite obvious apparent focal additional other evident
    appreciable gross frank visible suspicious residual""".split()
)
_CLAUSE_END = frozenset(
    """. ; : ! ? but however although except though apart aside otherwise which that is are was
    were has have in at on within from to since for of with after before""".split()
)
_LIST_SEPARATORS = frozenset(", or and nor".split())
_MAX_FINDING_WORDS = 5

_UNITS = {
    "mm": ("mm", 1.0), "cm": ("mm", 10.0), "ml": ("mL", 1.0), "cc": ("mL", 1.0),
    "mg": ("mg", 1.0), "mcg": ("mg", 0.001), "g": ("mg", 1000.0), "kg": ("kg", 1.0),
    "%": ("%", 1.0), "mmhg": ("mmHg", 1.0), "units": ("units", 1.0),
}  # fmt: skip
_UNIT_DISPLAY = {"ml": "mL", "cc": "mL", "mmhg": "mmHg"}

_REWRITES = [  # applied in order to the text before it is split into words
    (re.compile(r"\bR/O\b", re.I), "rule out"),
    (re.compile(r"\b(?:L|LT|Lt|lt)\b\.?(?![-/\d])"), "left"),
    (re.compile(r"\b(?:R|RT|Rt|rt)\b\.?(?![-/\d])"), "right"),
    (re.compile(r"\bbilat\b\.?", re.I), "bilateral"),
]
_LOWER_REWRITES = [
    (re.compile(r"\b(left|right)-sided\b"), r"\1"),
    (re.compile("×"), " x "),
    (re.compile(r"\bmillimet(?:er|re)s?\b"), "mm"),
    (re.compile(r"\bcentimet(?:er|re)s?\b"), "cm"),
    (re.compile(r"\bmillilit(?:er|re)s?\b"), "ml"),
    (re.compile(r"\bmilligrams?\b"), "mg"),
    (re.compile(r"\bmicrograms?\b"), "mcg"),
    (re.compile(r"\bkilograms?\b"), "kg"),
    (re.compile(r"\bgrams?\b"), "g"),
    (re.compile(r"\s*percent\b"), "%"),
    (re.compile(r"\bmm hg\b"), "mmhg"),
    (re.compile(r"(\d)(mm|cm|ml|cc|mg|mcg|g|kg|mmhg)\b"), r"\1 \2"),
    (re.compile(r"(\d)\s*(?:cm|mm)\s*(?:x|by)\s*(?=\d)"), r"\1 x "),  # "3 cm x 2 cm" -> "3 x 2 cm"
]
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z][a-z0-9]*(?:['-][a-z0-9]+)*|[%.;:,!?]")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")


def words(text: str) -> list[list[str]]:
    """The text normalised (see the module doc) and split into sentences of words."""
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    text = text.lower()
    for pattern, repl in _LOWER_REWRITES:
        text = pattern.sub(repl, text)
    return [tokens for part in _SENTENCE.split(text) if (tokens := _TOKEN.findall(part))]


def extract_facts(text: str) -> list[dict[str, str]]:
    """The key facts of a text in the order they occur, one per key (module doc)."""
    facts, seen = [], set()
    for sentence in words(text):
        for fact in _sentence_facts(sentence):
            key = fact_key(fact)
            if key not in seen:
                seen.add(key)
                facts.append(fact)
    return facts


def fact_key(fact: dict[str, str]) -> tuple[str, str]:
    """What two facts are compared by: (kind, loose normal form)."""
    kind, tokens = fact["kind"], [t for sentence in words(fact["text"]) for t in sentence]
    if kind == "negation":
        finding = [t for t in tokens[1:] if t not in _MODIFIERS] or tokens[1:]
        return kind, " ".join(finding)
    if kind == "laterality":
        side = next((t for t in tokens if t in SIDES), "")
        head = next((" ".join(p) for i in range(len(tokens)) if (p := _match(tokens, i, ANATOMY))), "")
        return kind, f"{side} {head}"
    if kind == "measurement":
        found = _measurement_at(tokens, 0)
        return kind, found[2] if found else " ".join(tokens)
    return kind, " ".join(tokens)


def facts_kept(reference: Iterable[dict[str, str]], output: str) -> list[bool]:
    """For each reference fact, whether the output states it (same key)."""
    found = {fact_key(fact) for fact in extract_facts(output)}
    return [fact_key(fact) in found for fact in reference]


def unsupported_facts(source: str, output: str) -> list[dict[str, str]]:
    """The facts of the output that the source does not state (module doc: Support)."""
    stated = _keys(source)
    return [fact for fact in extract_facts(output) if fact_key(fact) not in stated]


@lru_cache(maxsize=4096)  # a note is checked against base, tuned and every reference's outputs
def _keys(text: str) -> frozenset[tuple[str, str]]:
    return frozenset(fact_key(fact) for fact in extract_facts(text))


def _sentence_facts(tokens: list[str]) -> list[dict[str, str]]:
    negated = [False] * len(tokens)
    found: list[tuple[int, str, str]] = []  # (position, kind, text)
    for start, finding in _negations(tokens, negated):
        found.append((start, "negation", "no " + finding))
    i = 0
    while i < len(tokens):
        measurement = _measurement_at(tokens, i)
        if measurement:
            found.append((i, "measurement", measurement[1]))
            i = measurement[0]
            continue
        if negated[i]:
            i += 1
            continue
        if tokens[i] in SIDES and (laterality := _laterality(tokens, i)):
            found.append((i, "laterality", laterality))
        term, length = _term_at(tokens, i)
        if term:
            found.append((i, *term))
        i += length
    return [{"kind": kind, "text": text} for _, kind, text in sorted(found, key=lambda f: f[0])]


def _match(tokens: list[str], i: int, phrases: Phrases) -> tuple[str, ...] | None:
    """The longest phrase starting at tokens[i], if any."""
    candidates = phrases.get(tokens[i], ()) if i < len(tokens) else ()
    return next((p for p in candidates if tuple(tokens[i : i + len(p)]) == p), None)


def _negations(tokens: list[str], negated: list[bool]) -> list[tuple[int, str]]:
    """(position, finding) of every negated finding; marks the negated words."""
    out, i = [], 0
    while i < len(tokens):
        cue = _match(tokens, i, _NEGATION_CUES)
        if not cue:
            i += 1
            continue
        j = i + len(cue)
        while j < len(tokens) and tokens[j] in _FILLERS:
            j += 1
        item: list[str] = []
        start = j
        while j <= len(tokens):
            word = tokens[j] if j < len(tokens) else "."
            if word in _LIST_SEPARATORS or word in _CLAUSE_END or _match(tokens, j, _NEGATION_CUES):
                while item and item[0] in _FILLERS:
                    item.pop(0)
                if item and len(item) <= _MAX_FINDING_WORDS and not any(w[0].isdigit() for w in item):
                    out.append((start, " ".join(item)))
                item, start = [], j + 1
                if word not in _LIST_SEPARATORS:
                    break
            else:
                item.append(word)
                negated[j] = True
            j += 1
        i = max(j, i + 1)
    return out


def _measurement_at(tokens: list[str], i: int) -> tuple[int, str, str] | None:
    """(end, text, key) of a measurement starting at tokens[i], or None."""
    numbers, j = [], i
    while j < len(tokens) and _is_number(tokens[j]):
        numbers.append(float(tokens[j]))
        if j + 2 < len(tokens) and tokens[j + 1] in ("x", "by") and _is_number(tokens[j + 2]):
            j += 2
        else:
            j += 1
            break
    if not numbers or j >= len(tokens) or tokens[j] not in _UNITS:
        return None
    unit = tokens[j]
    base, factor = _UNITS[unit]
    shown = _UNIT_DISPLAY.get(unit, unit)
    text = " x ".join(_number(n) for n in numbers) + ("%" if unit == "%" else f" {shown}")
    key = " x ".join(_number(n * factor) for n in numbers) + f" {base}"
    return j + 1, text, key


def _is_number(token: str) -> bool:
    return token[0].isdigit()


def _number(value: float) -> str:
    return f"{round(value, 4):g}"


def _term_at(tokens: list[str], i: int) -> tuple[tuple[str, str] | None, int]:
    """((kind, text) of a diagnosis or procedure at tokens[i], or None; words it covers)."""
    phrase = _match(tokens, i, _DIAGNOSIS_PHRASES)
    if phrase:
        canonical = DIAGNOSES[phrase]
        return (("diagnosis", canonical) if canonical else None), len(phrase)
    word = tokens[i]
    if _DISEASE_SUFFIX.fullmatch(word) and word not in _NOT_DISEASES:
        return ("diagnosis", word), 1
    if _PROCEDURE_SUFFIX.fullmatch(word):
        return ("procedure", word), 1
    if word in _PROCEDURE_NOUNS:
        before = tokens[i - 1] if i > 0 else ""
        named = before.isalpha() and before not in _APPROACH and before not in _PROCEDURE_NOUNS
        return ("procedure", f"{before} {word}" if named else word), 1
    return None, 1


def _laterality(tokens: list[str], i: int) -> str | None:
    for j in range(i + 1, min(i + 4, len(tokens))):
        if not tokens[j].isalpha() and "-" not in tokens[j]:
            break
        head = _match(tokens, j, ANATOMY)
        if head:
            return " ".join(tokens[i : j + len(head)])
    for j in range(i - 1, max(i - 4, -1), -1):
        if not tokens[j].isalpha():
            break
        head = _match(tokens, j, ANATOMY)
        if head:
            return " ".join(tokens[j : i + 1])
    return None
