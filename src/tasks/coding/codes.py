"""Medical code validation and normalisation (ICD-10-CM from the CMS table, CPT by shape)."""

from __future__ import annotations

import re
from functools import cache

import simple_icd_10_cm as icd

# CPT: five digits (Category I), or four digits + F / T (Category II / III).
_CPT = re.compile(r"^\d{4}[0-9FT]$")


def normalize_code(raw: str) -> str | None:
    """Canonical form of a code, or None when it is not a valid ICD-10-CM or CPT code.

    ICD-10-CM codes are accepted dotted or undotted and in any case ("e119" -> "E11.9");
    only categories and (extended) subcategories count, not chapters or blocks.
    """
    code = str(raw).strip().upper()
    if _CPT.match(code):
        return code
    return _normalize_icd(code)


@cache
def _normalize_icd(code: str) -> str | None:
    if not code or not icd.is_valid_item(code):
        return None
    # Some categories share their name with a one-category block (C50), so ask positively.
    if not (icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code)):
        return None
    return icd.add_dot(icd.remove_dot(code))


def code_description(code: str) -> str | None:
    """Official description of an ICD-10-CM code; None for CPT (descriptors are not bundled)."""
    if _CPT.match(code):
        return None
    return icd.get_description(code)


def icd_category(code: str) -> str | None:
    """The ICD-10-CM category (first three characters: "E11" of "E11.9"); None for CPT."""
    return None if _CPT.match(code) else code[:3]
