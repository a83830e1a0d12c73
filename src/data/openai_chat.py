"""OpenAI chat fine-tuning files (data.format=openai_chat): the JSONL a hosted fine-tuning API
takes, one conversation per line, {"messages": [{"role": ..., "content": ...}, ...]}, with an
optional "id" (else "<file stem>:<line>").

Roles are system, user and assistant; the last message must be the assistant's, because it is
the reference the evaluation scores against (the model writes it from the turns before it).
Other keys of OpenAI's format ("name", a top-level "tools", ...) are tolerated and ignored;
"weight": 0 on an assistant turn keeps its OpenAI meaning, no loss on that turn. Every problem
raises MedtuneError naming the file, line and fix; contents are kept with their ends stripped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from src.data.records import table_rows
from src.errors import MedtuneError

ROLES = ("system", "user", "assistant")
SUFFIXES = (".jsonl", ".json")


def read_conversations(
    path: str | Path, data_cfg: Any, stats: Counter
) -> Iterator[tuple[str, str, list[dict]]]:
    """(where, id, messages) per line; each message {role, content, weight} (weight: 1 or 0)."""
    if Path(path).suffix.lower() not in SUFFIXES:
        raise MedtuneError(
            f"{path}: data.format=openai_chat reads JSON Lines (.jsonl), one "
            '{"messages": [...]} object per line; convert the file or set data.format=table'
        )
    for where, example_id, raw in table_rows(path, data_cfg, (), stats):
        yield where, example_id, conversation(raw, where)


def conversation(raw: dict, where: str) -> list[dict]:
    """The row's messages, checked."""
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages:
        got = "no 'messages' key" if "messages" not in raw else f"'messages' = {_short(messages)}"
        raise MedtuneError(
            f'{where}: {got}; each line must be {{"messages": [{{"role": "user", "content": ...}}, '
            '..., {"role": "assistant", "content": ...}]}, a non-empty list'
        )
    checked = [_message(message, where, n) for n, message in enumerate(messages, start=1)]
    roles = [message["role"] for message in checked]
    if "user" not in roles:
        raise MedtuneError(
            f"{where}: no user turn; a conversation needs at least one user message (what the model reads)"
        )
    if roles[-1] != "assistant":
        raise MedtuneError(
            f"{where}: the last message is the {roles[-1]}'s; end each conversation with the assistant's "
            "reply (the reference the evaluation scores against), or remove the trailing turns"
        )
    if not any(m["weight"] for m in checked if m["role"] == "assistant"):
        raise MedtuneError(
            f'{where}: every assistant turn has "weight": 0, so the conversation teaches nothing; '
            "set weight 1 on one of them or remove the line"
        )
    return checked


def _message(message: Any, where: str, n: int) -> dict:
    if not isinstance(message, dict):
        raise MedtuneError(
            f'{where}: message {n} is {_short(message)}, not an object {{"role": ..., "content": ...}}'
        )
    role = message.get("role")
    if role not in ROLES:
        raise MedtuneError(
            f"{where}: message {n} has role {_short(role)}; use system, user or assistant "
            "(tool and function turns are not read)"
        )
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise MedtuneError(
            f"{where}: message {n} ({role}) needs non-empty text in 'content', got {_short(content)}; "
            "lists of content parts, images and tool calls are not read"
        )
    weight = message.get("weight", 1)
    if role == "assistant" and (isinstance(weight, bool) or weight not in (0, 1)):
        raise MedtuneError(
            f"{where}: message {n} has weight {_short(weight)}; OpenAI's weight is 1 (learn this turn) "
            "or 0 (no loss on it)"
        )
    return {"role": role, "content": content.strip(), "weight": weight if role == "assistant" else 1}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
