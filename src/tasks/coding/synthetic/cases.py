"""A synthetic coding case (everything a note's gold codes come from) and the coding rules.

The gold codes are a pure function of the case (`case_codes`); the rules are listed in the
docstring of synthetic.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from src.tasks.coding.synthetic.catalogue_cases import WORKUPS
from src.tasks.coding.synthetic.catalogue_codes import BMI_BANDS, MED_Z79


@dataclass
class Case:
    setting: str  # "clinic" | "inpatient"
    age: int
    sex: str  # "F" | "M"
    bmi: float
    principal: str | None = None  # concept that motivates the visit / admission
    problems: dict[str, str] = field(default_factory=dict)  # concept -> ICD code (variant)
    dm_comps: list[str] = field(default_factory=list)  # E11 complication codes (not CKD)
    info: dict = field(default_factory=dict)  # render details: side, values, flags
    meds: list[str] = field(default_factory=list)  # current medication keys
    history: list[str] = field(default_factory=list)  # personal-history codes
    family: list[tuple[str, str]] = field(default_factory=list)  # (relative, code)
    smoking: str = "unknown"  # never | former | current | unknown
    workup: tuple[str, str] | None = None  # (symptom code, suspected condition)
    procedures: list[str] = field(default_factory=list)  # CPT codes

    def clone(self) -> Case:
        return Case(
            self.setting, self.age, self.sex, self.bmi, self.principal, dict(self.problems),
            list(self.dm_comps), dict(self.info), list(self.meds), list(self.history),
            list(self.family), self.smoking, self.workup, list(self.procedures),
        )  # fmt: skip

    def add_med(self, med: str) -> None:
        if med not in self.meds:
            self.meds.append(med)


def htn_code(case: Case) -> str:
    """I10, or the combination code when heart failure and/or CKD is present."""
    hf, ckd = "hf" in case.problems, "ckd" in case.problems
    return "I13.0" if hf and ckd else "I11.0" if hf else "I12.9" if ckd else "I10"


def case_codes(case: Case) -> list[str]:
    """The gold codes: a pure function of the case (the coding rules live here)."""
    p = case.problems
    codes = [code for concept, code in p.items() if concept not in ("htn", "dm", "obesity")]
    if "dm" in p:
        comps = list(case.dm_comps) + (["E11.22"] if "ckd" in p else [])
        codes += comps or ["E11.9"]
    if "htn" in p:
        codes.append(htn_code(case))
    if "obesity" in p:
        codes += [p["obesity"], bmi_code(case.bmi)]
    if case.smoking == "current":
        codes.append("F17.210")
    elif case.smoking == "former":
        codes.append("Z87.891")
    codes += case.history + [code for _, code in case.family]
    codes += [MED_Z79[m] for m in case.meds if m in MED_Z79]
    if case.workup:
        codes.append(case.workup[0])
    codes += case.procedures
    return sorted(set(codes))


def bmi_code(bmi: float) -> str:
    """The adult Z68 code of a BMI of 30 or more."""
    for lo, hi, code in BMI_BANDS:
        if lo <= bmi < hi:
            return code
    raise ValueError(f"no BMI code for {bmi}")


def suspected(case: Case, concept: str) -> bool:
    """Whether the case's work-up is ruling out this concept."""
    if not case.workup:
        return False
    return dict(WORKUPS[case.workup[0]]).get(case.workup[1]) == concept
