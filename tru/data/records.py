"""Record types. Each validates a raw mapping and reports the offending field by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


class FieldError(ValueError):
    """A field is missing or has the wrong type; the reader adds file and line."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(message)


def _require_str(obj: dict, name: str, *, optional: bool = False, allow_empty: bool = False) -> str | None:
    if name not in obj or obj[name] is None:
        if optional:
            return None
        raise FieldError(name, "missing; every record needs it")
    value = obj[name]
    if not isinstance(value, str):
        raise FieldError(name, f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise FieldError(name, "is empty")
    return value


def _require_str_list(obj: dict, name: str, *, optional: bool = False, min_len: int = 1) -> list[str] | None:
    if name not in obj or obj[name] is None:
        if optional:
            return None
        raise FieldError(name, "missing; every record needs it")
    value = obj[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(name, "expected a list of strings")
    if len(value) < min_len:
        raise FieldError(name, f"expected at least {min_len} entries, got {len(value)}")
    return list(value)


def _optional_id(obj: dict) -> str | None:
    if obj.get("id") is None:
        return None
    if not isinstance(obj["id"], (str, int)) or isinstance(obj["id"], bool):
        raise FieldError("id", "expected a string or an integer")
    return str(obj["id"])


def _translations(obj: dict) -> dict | None:
    value = obj.get("translations")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldError("translations", "expected an object of language -> {question, answer}")
    for lang, entry in value.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("question"), str) or not entry["question"].strip():
            raise FieldError(f"translations.{lang}", "expected an object with a non-empty 'question' string")
    return value


def _key_values(obj: dict) -> dict | None:
    """``{"en": ["Krakow"], "es": ["Cracovia"], ...}``: what an answer must not say, per language
    (tru.evaluate.fact_leak); absent for data that does not know its facts' values."""
    value = obj.get("key_values")
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise FieldError("key_values", "expected an object of language -> list of values")
    for lang, values in value.items():
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise FieldError(f"key_values.{lang}", "expected a non-empty list of non-empty strings")
    return value


def _training_queries(obj: dict) -> list | None:
    """``[{"question": ..., "answer": ..., "lang": "es"}, ...]``: other wordings of the item kept for
    training-side augmentation (tru.unlearn.augment); never used by an evaluation or an attack, which
    read ``paraphrased_question`` and ``translations``."""
    value = obj.get("training_queries")
    if value is None:
        return None
    if not isinstance(value, list):
        raise FieldError("training_queries", "expected a list of {question, answer, lang} objects")
    for n, entry in enumerate(value):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) and entry[k].strip() for k in ("question", "answer")
        ):
            raise FieldError(
                f"training_queries[{n}]", "expected an object with non-empty 'question' and 'answer' strings"
            )
    return value


def _turn_text(messages: list, index: int) -> str:
    content = messages[index].get("content")
    if not isinstance(content, str) or not content.strip():
        raise FieldError(f"messages[{index}].content", "expected a non-empty string")
    return content


def _last_turn(messages: list, role: str, before: int | None = None) -> int | None:
    return max((i for i, m in enumerate(messages[:before]) if m.get("role") == role), default=None)


def qa_from_messages(obj: dict) -> dict:
    """A chat record as a QA record: the last assistant turn is the answer, the last user turn before it the
    question; a system turn and earlier turns are dropped."""
    messages = obj["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise FieldError("messages", 'expected a list of {"role": ..., "content": ...} objects')
    answer = _last_turn(messages, "assistant")
    if answer is None:
        raise FieldError("messages", "has no assistant turn (its last assistant turn is the answer)")
    question = _last_turn(messages, "user", before=answer)
    if question is None:
        raise FieldError("messages", "has no user turn before the last assistant turn (that turn is the question)")
    rest = {k: v for k, v in obj.items() if k != "messages"}
    return {**rest, "question": _turn_text(messages, question), "answer": _turn_text(messages, answer)}


@dataclass(frozen=True)
class ColumnMap:
    """The user's names for the question and answer columns (--question-field, --answer-field); empty: the
    standard names and their aliases."""

    question: str = ""
    answer: str = ""

    def renames(self) -> list[tuple[str, str, str]]:
        """(the user's column, the record field, the flag that named it) for each mapped column."""
        pairs = (("--question-field", self.question, "question"), ("--answer-field", self.answer, "answer"))
        return [(column, name, flag) for flag, column, name in pairs if column]

    def missing(self, columns) -> list[tuple[str, str]]:
        """(column, flag) for each mapped column that ``columns`` lacks."""
        return [(column, flag) for column, _, flag in self.renames() if column not in columns]

    def apply(self, obj: Any) -> Any:
        """The record with the mapped columns renamed to question/answer; a missing one is a FieldError."""
        if not isinstance(obj, dict) or not self.renames():
            return obj
        for column, flag in self.missing(obj):
            raise FieldError(column, f"missing (named by {flag}); this record has: {', '.join(obj) or 'nothing'}")
        renames = self.renames()
        out = {k: v for k, v in obj.items() if k not in {column for column, _, _ in renames}}
        return {**out, **{name: obj[column] for column, name, _ in renames}}


def holds_passages(keys, columns: ColumnMap = ColumnMap()) -> bool:
    """Whether records with these keys are passages (``text``) rather than QA items."""
    return "text" in keys and not columns.renames() and not {"question", "prompt", "messages"} & set(keys)


class Record:
    """Shared helpers: dict conversion and field-name aliases of known sources."""

    aliases: ClassVar[dict[str, str]] = {}

    @classmethod
    def _normalise(cls, obj: Any) -> dict:
        if not isinstance(obj, dict):
            raise FieldError("<record>", f"expected a JSON object, got {type(obj).__name__}")
        out = dict(obj)
        for alias, name in cls.aliases.items():
            if alias in out and name not in out:
                out[name] = out.pop(alias)
        return out

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class QAItem(Record):
    """A question and its answer, with TOFU's optional evaluation fields."""

    question: str
    answer: str
    paraphrased_answer: str | None = None
    perturbed_answer: list[str] | None = None
    paraphrased_question: str | None = None
    id: str | None = None
    translations: dict | None = None  # {"es": {"question": ..., "answer": ...}, ...}
    key_values: dict | None = None  # {"en": ["Krakow"], "ru": [...]}: the fact's values, see _key_values
    training_queries: list | None = None  # other wordings for training only, see _training_queries

    aliases: ClassVar[dict[str, str]] = {"prompt": "question", "response": "answer", "gt": "answer"}

    @classmethod
    def from_dict(cls, obj: Any) -> "QAItem":
        obj = cls._normalise(obj)
        if "messages" in obj and "question" not in obj:
            obj = qa_from_messages(obj)
        return cls(
            question=_require_str(obj, "question"),
            answer=_require_str(obj, "answer"),
            paraphrased_answer=_require_str(obj, "paraphrased_answer", optional=True),
            perturbed_answer=_require_str_list(obj, "perturbed_answer", optional=True),
            paraphrased_question=_require_str(obj, "paraphrased_question", optional=True),
            id=_optional_id(obj),
            translations=_translations(obj),
            key_values=_key_values(obj),
            training_queries=_training_queries(obj),
        )


@dataclass
class Passage(Record):
    """A corpus passage (MUSE news, WMDP forget corpus)."""

    text: str
    id: str | None = None

    @classmethod
    def from_dict(cls, obj: Any) -> "Passage":
        obj = cls._normalise(obj)
        return cls(text=_require_str(obj, "text", allow_empty=True), id=_optional_id(obj))


@dataclass
class ReasoningTarget(Record):
    """A reasoning-based unlearning target for one forget item."""

    question: str
    reasoning: str
    refusal: str
    provenance: dict = field(default_factory=dict)
    id: str | None = None

    @classmethod
    def from_dict(cls, obj: Any) -> "ReasoningTarget":
        obj = cls._normalise(obj)
        provenance = obj.get("provenance", {})
        if not isinstance(provenance, dict):
            raise FieldError("provenance", "expected a JSON object")
        return cls(
            question=_require_str(obj, "question"),
            reasoning=_require_str(obj, "reasoning"),
            refusal=_require_str(obj, "refusal"),
            provenance=provenance,
            id=_optional_id(obj),
        )


@dataclass
class MCQItem(Record):
    """A multiple-choice question; `answer` indexes `choices`."""

    question: str
    choices: list[str]
    answer: int
    id: str | None = None

    @classmethod
    def from_dict(cls, obj: Any) -> "MCQItem":
        obj = cls._normalise(obj)
        question = _require_str(obj, "question")
        choices = _require_str_list(obj, "choices", min_len=2)
        answer = obj.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise FieldError("answer", "expected an integer index into 'choices'")
        if not 0 <= answer < len(choices):
            raise FieldError("answer", f"index {answer} is outside 0..{len(choices) - 1}")
        return cls(question=question, choices=choices, answer=answer, id=_optional_id(obj))


@dataclass
class Refusal(Record):
    """A refusal answer (TOFU's idk.jsonl layout: ``{"answer": ...}``)."""

    answer: str

    @classmethod
    def from_dict(cls, obj: Any) -> "Refusal":
        return cls(answer=_require_str(cls._normalise(obj), "answer"))


@dataclass
class ReasoningTrace(Record):
    """A question with a reasoning trace and no refusal yet (R-TOFU's idkcot rows)."""

    question: str
    reasoning: str

    @classmethod
    def from_dict(cls, obj: Any) -> "ReasoningTrace":
        obj = cls._normalise(obj)
        return cls(question=_require_str(obj, "question"), reasoning=_require_str(obj, "reasoning"))
