"""What the synthetic note builders share: the Note they return and small sampling helpers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from src.tasks.summarization.facts import fact_key


@dataclass
class Note:
    text: str
    summary: str
    facts: list[dict[str, str]] = field(default_factory=list)


class Facts:
    """The key facts of a summary in the order they are written; once per key ("18 mm" = "1.8 cm")."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self._keys: set[tuple[str, str]] = set()

    def add(self, kind: str, text: str) -> None:
        fact = {"kind": kind, "text": text}
        if fact_key(fact) not in self._keys:
            self._keys.add(fact_key(fact))
            self.items.append(fact)

    def extend(self, facts: list[tuple[str, str]]) -> None:
        for kind, text in facts:
            self.add(kind, text)


def num(value: float) -> str:
    """A measurement as written: one decimal at most, no trailing zero ("1.5", "2")."""
    return f"{round(value, 1):g}"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b, and c'."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def either(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def age_sex(rng: random.Random) -> tuple[int, str, str]:
    """(age, 'man' | 'woman', 'male' | 'female')."""
    age = rng.randint(19, 92)
    return (age, "man", "male") if rng.random() < 0.5 else (age, "woman", "female")


def date(rng: random.Random, year: int = 2024) -> str:
    return f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{year}"
