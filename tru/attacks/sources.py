"""Where attacked queries come from: the data, a translations file, or an OpenAI-compatible endpoint.

Lookup order for a forget question and a language code (``es``, ``ru``, ...; ``paraphrase`` for
paraphrases), first hit wins:

1. the data record itself: a field ``question_<lang>`` (e.g. ``question_es``) or a ``translations``
   mapping ``{"es": "...", "ru": "..."}`` (or ``{"es": {"question": "..."}}``, as ``tru data synth``
   writes it); for paraphrases TOFU's ``paraphrased_question``;
2. the translations file (``--translations``), JSON Lines of
   ``{"question": ORIGINAL, "lang": "es", "translation": "..."}`` (matched on the exact question,
   whitespace-trimmed); ``"lang": "paraphrase"`` lines supply paraphrases;
3. the endpoint (``--translate-url``/``--translate-model``), asked at temperature 0 with a fixed
   prompt (translate / rephrase the question only). Answers are cached on disk under
   ``OUT/translate_cache`` by ChatClient (key: endpoint, model, messages, parameters), so a rerun
   makes no request and yields the same queries.

A query with no source is an error that says how to provide one; nothing is skipped silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from tru.core.errors import ConfigError, InputError
from tru.data.readers import DATA_FILE, read_text_file

PARAPHRASE = "paraphrase"
LANGUAGE_NAMES = {
    "es": "Spanish",
    "ru": "Russian",
    "de": "German",
    "fr": "French",
    "zh": "Chinese",
    "ar": "Arabic",
    "hi": "Hindi",
    "ja": "Japanese",
    "pt": "Portuguese",
    "it": "Italian",
    "ko": "Korean",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "pl": "Polish",
    "nl": "Dutch",
}
PROMPT_VERSION = 1


def read_raw_rows(path: str | Path) -> list[dict]:
    """The records of a JSONL / JSON-list file as plain dicts (the QA reader has validated them)."""
    path = Path(path).expanduser()
    text = read_text_file(path, what=DATA_FILE)
    if text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.split("\n") if line.strip()]
    return [r if isinstance(r, dict) else {} for r in rows]


def load_translation_file(path: str | Path) -> dict[tuple[str, str], str]:
    path = Path(path).expanduser()
    text = read_text_file(
        path,
        what="translations file (.jsonl)",
        hint='give JSON Lines of {"question": ..., "lang": "es", "translation": ...}',
    )
    table = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON ({exc.msg})", line=number) from None
        if not isinstance(obj, dict):
            raise InputError(path, "expected a JSON object", line=number)
        for name in ("question", "lang", "translation"):
            if not isinstance(obj.get(name), str) or not obj[name].strip():
                raise InputError(path, "missing or empty (a string is needed)", line=number, field=name)
        table[(obj["question"].strip(), obj["lang"].strip())] = obj["translation"].strip()
    return table


def _prompt(question: str, lang: str) -> list[dict]:
    if lang == PARAPHRASE:
        task = (
            "Rephrase the following question so that it asks for exactly the same information in "
            "different words. Reply with the rephrased question only, nothing else."
        )
    else:
        task = (
            f"Translate the following question into {LANGUAGE_NAMES.get(lang, lang)} (language code "
            f"'{lang}'). Keep names as they are. Reply with the translated question only, nothing else."
        )
    return [
        {"role": "system", "content": "You transform questions for a multilingual evaluation."},
        {"role": "user", "content": f"{task}\n\nQuestion: {question}"},
    ]


class QuerySource:
    def __init__(self, config, items, raw_rows: Sequence[dict], out: Path, side: str = "forget"):
        self.config = config
        self.side = side
        self.items = list(items)
        self.raw = list(raw_rows) + [{}] * (len(self.items) - len(raw_rows))
        self.file = load_translation_file(config.translations) if config.translations else {}
        self.out = out

    def _local(self, index: int, lang: str) -> str | None:
        item, row = self.items[index], self.raw[index]
        if lang == PARAPHRASE:
            value = item.paraphrased_question
        else:
            value = row.get(f"question_{lang}")
            translations = row.get("translations") or item.translations
            if not value and isinstance(translations, dict):
                value = translations.get(lang)
                if isinstance(value, dict):  # {"question": ..., "answer": ...}, as `tru data synth` writes
                    value = value.get("question")
        if isinstance(value, str) and value.strip():
            return value.strip()
        return self.file.get((item.question.strip(), lang))

    def missing(self, lang: str) -> list[int]:
        return [i for i in range(len(self.items)) if self._local(i, lang) is None]

    def check(self, lang: str) -> None:
        """Raise before anything is written when some query has no source at all."""
        missing = self.missing(lang)
        if missing and not self.config.translate_url:
            what = "paraphrases" if lang == PARAPHRASE else f"'{lang}' translations"
            first = self.items[missing[0]].question
            field = "paraphrased_question" if lang == PARAPHRASE else f"question_{lang}"
            raise ConfigError(
                f"{len(missing)} of {len(self.items)} {self.side} questions have no {what} (first: {first!r}); "
                f"provide them in the data (field {field}"
                f' or a \'translations\' mapping), in --translations (JSON Lines of {{"question", "lang": '
                f'"{lang}", "translation"}}), or through --translate-url and --translate-model'
            )

    def queries(self, lang: str) -> tuple[list[str], list[str]]:
        """The attacked queries in item order, and where each came from (data/file/endpoint)."""
        self.check(lang)
        found = [self._local(i, lang) for i in range(len(self.items))]
        origin = ["local" if q is not None else "endpoint" for q in found]
        missing = [i for i, q in enumerate(found) if q is None]
        if missing:
            for i, text in zip(missing, self._ask([self.items[i].question for i in missing], lang)):
                found[i] = text
        return found, origin  # type: ignore[return-value]

    def _ask(self, questions: list[str], lang: str) -> list[str]:
        from tru.llm.client import ChatClient, ChatError, ChatRequest

        c = self.config
        client = ChatClient(
            c.translate_url,
            c.translate_model,
            api_key_env=c.translate_key_env,
            api_key_file=c.translate_key_file or None,
            cache_dir=self.out / "translate_cache",
        )
        with client:
            results = client.complete_many(
                [ChatRequest(_prompt(q, lang), {"temperature": 0, "max_tokens": 256}) for q in questions]
            )
        texts = []
        for question, result in zip(questions, results):
            if not result.ok:
                raise ChatError(result)
            text = result.text.strip().strip('"').strip()
            if not text:
                raise ConfigError(f"the endpoint returned an empty {lang} query for {question!r}")
            texts.append(text)
        return texts
