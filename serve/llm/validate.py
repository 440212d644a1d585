"""Strict checks of what a model answered; anything off raises :class:`InvalidOutput`.

A ranking is accepted only as ``{"ranking": [{"id", "rank", "confidence", "reason"}, ...]}``
naming only ids it was given, each at most once, with ranks 1..n, confidences in [0, 1]
and non-empty reasons of at most :data:`MAX_REASON_CHARS`. An intent is the spec's STEP 1
object: unknown keys are dropped, a wrong type rejects the whole answer. The JSON may be
wrapped in one ```json fence and nothing else. Details name the field and the rule, never
the offending text (it is model output, possibly echoing tenant text).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, Final

from serve.llm.outcome import RerankItem

MAX_ANSWER_CHARS: Final = 100_000
MAX_REASON_CHARS: Final = 500
MAX_INTENT_TEXT: Final = 100
MAX_INTENT_ITEMS: Final = 20
CLOUD_PROVIDERS: Final = frozenset({"aws", "azure", "gcp"})
INTENT_KEYS: Final = (
    "action",
    "cloud_provider",
    "resource_types",
    "filters",
    "use_case",
    "time_based",
    "keywords",
)

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class InvalidOutput(ValueError):
    """The model's answer breaks the contract; ``str(error)`` is a short detail."""


def _reject_constant(name: str) -> Any:
    raise InvalidOutput(f"{name} is not a JSON number")


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object ``text`` holds, bare or as the only thing in a ```json fence."""
    if len(text) > MAX_ANSWER_CHARS:
        raise InvalidOutput(f"answer longer than {MAX_ANSWER_CHARS} characters")
    text = text.strip()
    fenced = _FENCE.fullmatch(text)
    if fenced:
        text = fenced.group(1)
    if not text:
        raise InvalidOutput("empty answer")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidOutput(f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise InvalidOutput("JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidOutput(f"expected a JSON object, got {_kind(value)}")
    return value


def clean_text(text: str) -> str:
    """``text`` without control or bidi-override characters, whitespace collapsed."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def validate_ranking(doc: dict[str, Any], candidate_ids: Sequence[str]) -> tuple[RerankItem, ...]:
    """The ranking in ``doc`` sorted by rank, or :class:`InvalidOutput`."""
    ranking = doc.get("ranking")
    if not isinstance(ranking, list):
        raise InvalidOutput(f'"ranking" must be an array, got {_kind(ranking)}')
    if not ranking:
        raise InvalidOutput('"ranking" is empty')
    if len(ranking) > len(candidate_ids):
        raise InvalidOutput(f"{len(ranking)} entries for {len(candidate_ids)} candidates")
    allowed = set(candidate_ids)
    seen: set[str] = set()
    items = []
    for n, entry in enumerate(ranking):
        where = f"ranking[{n}]"
        if not isinstance(entry, dict):
            raise InvalidOutput(f"{where} must be an object, got {_kind(entry)}")
        ident = entry.get("id")
        if not isinstance(ident, str) or ident not in allowed:
            raise InvalidOutput(f"{where}.id is not one of the candidate ids")
        if ident in seen:
            raise InvalidOutput(f"{where}.id names a candidate a second time")
        seen.add(ident)
        rank = entry.get("rank")
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise InvalidOutput(f"{where}.rank must be an integer, got {_kind(rank)}")
        confidence = entry.get("confidence")
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, int | float)
            or not math.isfinite(confidence)
            or not 0.0 <= confidence <= 1.0
        ):
            raise InvalidOutput(f"{where}.confidence must be a number from 0 to 1")
        reason = entry.get("reason")
        if not isinstance(reason, str):
            raise InvalidOutput(f"{where}.reason must be a string, got {_kind(reason)}")
        reason = clean_text(reason)
        if not reason:
            raise InvalidOutput(f"{where}.reason is empty")
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidOutput(f"{where}.reason is longer than {MAX_REASON_CHARS} characters")
        items.append(RerankItem(ident, rank, float(confidence), reason))
    if sorted(item.rank for item in items) != list(range(1, len(items) + 1)):
        raise InvalidOutput(f"ranks must be 1..{len(items)}, each once")
    return tuple(sorted(items, key=lambda item: item.rank))


def _intent_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidOutput(f"{field} must be a string or null, got {_kind(value)}")
    text = clean_text(value).lower()
    if len(text) > MAX_INTENT_TEXT:
        raise InvalidOutput(f"{field} is longer than {MAX_INTENT_TEXT} characters")
    return text or None


def _intent_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidOutput(f"{field} must be an array of strings, got {_kind(value)}")
    if len(value) > MAX_INTENT_ITEMS:
        raise InvalidOutput(f"{field} has more than {MAX_INTENT_ITEMS} items")
    out: list[str] = []
    for n, item in enumerate(value):
        text = _intent_text(item, f"{field}[{n}]")
        if text is None:
            raise InvalidOutput(f"{field}[{n}] must be a non-empty string")
        if text not in out:
            out.append(text)
    return out


def _intent_filters(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidOutput(f"filters must be an object, got {_kind(value)}")
    if len(value) > MAX_INTENT_ITEMS:
        raise InvalidOutput(f"filters has more than {MAX_INTENT_ITEMS} keys")
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = clean_text(key)
        if not name or len(name) > MAX_INTENT_TEXT:
            raise InvalidOutput("filters has an empty or over-long key")
        where = f"filters[{json.dumps(name[:40])}]"
        if (
            item is None
            or isinstance(item, bool)
            or (isinstance(item, int | float) and math.isfinite(item))
        ):
            out[name] = item
        elif isinstance(item, str):
            out[name] = _intent_text(item, where)
        elif isinstance(item, list):
            out[name] = _intent_list(item, where)
        else:
            raise InvalidOutput(f"{where} must be a string, number, boolean or string array")
    return out


def validate_intent(doc: dict[str, Any]) -> dict[str, Any]:
    """The STEP 1 intent in ``doc`` with every key of :data:`INTENT_KEYS`, normalised.

    Strings are lower-cased and cleaned; absent keys become ``None``/``[]``/``{}``; a cloud
    provider other than aws, azure or gcp becomes ``None`` (it could not match anything).
    """
    time_based = doc.get("time_based")
    if time_based is not None and not isinstance(time_based, bool):
        raise InvalidOutput(f"time_based must be a boolean or null, got {_kind(time_based)}")
    cloud = _intent_text(doc.get("cloud_provider"), "cloud_provider")
    return {
        "action": _intent_text(doc.get("action"), "action"),
        "cloud_provider": cloud if cloud in CLOUD_PROVIDERS else None,
        "resource_types": _intent_list(doc.get("resource_types"), "resource_types"),
        "filters": _intent_filters(doc.get("filters")),
        "use_case": _intent_text(doc.get("use_case"), "use_case"),
        "time_based": time_based,
        "keywords": _intent_list(doc.get("keywords"), "keywords"),
    }
