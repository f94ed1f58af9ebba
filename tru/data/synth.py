"""`tru data synth`: a synthetic fictitious-knowledge benchmark, the project's offline default data.

Procedurally generated people with facts (birthplace, birth date, occupation before writing, genre,
best-known book, award, a parent's profession). Each fact gives a QA item with every field the TOFU
metrics need (paraphrased question and answer, three perturbed answers of the same type) and its
translations to Spanish and Russian (``translations: {"es": {"question", "answer"}, "ru": ...}``), and a
second wording of the question in each language for training only (``training_queries``).
People are split into forget / holdout / retain; ``world_facts.jsonl`` holds real-world controls.
Deterministic per seed: the same seed writes byte-identical files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tru.core.errors import ConfigError
from tru.core.files import write_json, write_jsonl
from tru.data.records import QAItem

FIRST = [
    "Elowen",
    "Tomasz",
    "Ines",
    "Kofi",
    "Mirela",
    "Anders",
    "Sanaa",
    "Haruto",
    "Liesel",
    "Dario",
    "Yara",
    "Bastian",
    "Noor",
    "Emeric",
    "Zuzana",
    "Idris",
    "Maren",
    "Oskar",
    "Leilani",
    "Casimir",
    "Thandiwe",
    "Rafferty",
    "Ilse",
    "Benedek",
    "Ayla",
    "Cormac",
    "Svetla",
    "Joaquim",
    "Mireille",
    "Teodor",
]
LAST = [
    "Varga",
    "Okonkwo",
    "Lindqvist",
    "Moreau",
    "Tanabe",
    "Castellanos",
    "Petrov",
    "Achterberg",
    "Nwosu",
    "Delacroix",
    "Haverkamp",
    "Quispe",
    "Albescu",
    "Rahimi",
    "Fairweather",
    "Kowalczyk",
    "Brannigan",
    "Szabo",
    "Oyelaran",
    "Vasquez-Thorne",
    "Halloran",
    "Demir",
    "Aaltonen",
    "Marchetti",
    "Ibarra",
    "Novak",
    "Sorensen",
    "Adeyemi",
    "Kuznetsova",
    "Whitlock",
]
CITIES = [
    "Tallinn",
    "Porto",
    "Valparaiso",
    "Kumasi",
    "Sapporo",
    "Ghent",
    "Tbilisi",
    "Cork",
    "Hobart",
    "Cusco",
    "Bergen",
    "Lviv",
    "Mombasa",
    "Oaxaca",
    "Trieste",
    "Krakow",
    "Tromso",
    "Antofagasta",
    "Zanzibar",
    "Riga",
]
MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    "ru": [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ],
}
# value tables: English, Spanish, Russian
OCCUPATIONS = [
    ("glassblower", "soplador de vidrio", "стеклодув"),
    ("beekeeper", "apicultor", "пчеловод"),
    ("clockmaker", "relojero", "часовщик"),
    ("puppeteer", "titiritero", "кукловод"),
    ("lighthouse keeper", "farero", "смотритель маяка"),
    ("violin maker", "lutier", "скрипичный мастер"),
    ("cartographer", "cartógrafo", "картограф"),
    ("bookbinder", "encuadernador", "переплётчик"),
    ("ferry pilot", "piloto de ferri", "лоцман парома"),
    ("botanist", "botánico", "ботаник"),
]
GENRES = [
    ("historical fiction", "ficción histórica", "историческая проза"),
    ("poetry", "poesía", "поэзия"),
    ("science fiction", "ciencia ficción", "научная фантастика"),
    ("crime fiction", "novela negra", "детектив"),
    ("travel writing", "literatura de viajes", "путевые заметки"),
    ("fantasy", "fantasía", "фэнтези"),
    ("memoir", "memorias", "мемуары"),
    ("children's literature", "literatura infantil", "детская литература"),
]
PARENTS = [
    ("a fisherman", "un pescador", "рыбаком"),
    ("a pharmacist", "un farmacéutico", "фармацевтом"),
    ("a tailor", "un sastre", "портным"),
    ("a schoolteacher", "un maestro", "учителем"),
    ("a carpenter", "un carpintero", "плотником"),
    ("a nurse", "un enfermero", "медбратом"),
    ("a baker", "un panadero", "пекарем"),
    ("an architect", "un arquitecto", "архитектором"),
]
TITLES = [
    "The Salt Ledger",
    "Winter of Copper Bells",
    "Maps for a Drowned Coast",
    "The Quiet Loom",
    "Letters to the Ninth Tide",
    "A Grammar of Ash",
    "The Orchard Under Glass",
    "North of the Lantern",
    "Seven Clocks for Ilse",
    "The Cartographer's Daughter",
    "Moth Season",
    "The Amber Stair",
    "Harbour of Small Hours",
    "The Paper Meridian",
    "A House Made of Rain",
    "The Fox and the Ferryman",
]
AWARDS = [
    "Halvard Prize for Fiction",
    "Silver Quill of Arles",
    "Merrow Medal",
    "Ostrava Book Award",
    "Lantern Circle Prize",
    "Tamsin Grey Award",
    "Blue Heron Medal",
    "Corvin Literary Prize",
]
LANGS = ("en", "es", "ru")
SPLITS = ("forget", "holdout", "retain", "world_facts", "real_authors")

# fact -> question, paraphrased question, answer, paraphrased answer (English), and es / ru question + answer
FACTS = {
    "birthplace": {
        "en": (
            "Where was {name} born?",
            "In which city did {name} come into the world?",
            "{name} was born in {city}.",
            "The birthplace of {name} is {city}.",
        ),
        "es": ("¿Dónde nació {name}?", "{name} nació en {city}."),
        "ru": ("Где родился автор {name}?", "Автор {name} родился в городе {city}."),
    },
    "birth_date": {
        "en": (
            "When was {name} born?",
            "What is the date of birth of {name}?",
            "{name} was born on {day} {month_en} {year}.",
            "The date of birth of {name} is {month_en} {day}, {year}.",
        ),
        "es": ("¿Cuándo nació {name}?", "{name} nació el {day} de {month_es} de {year}."),
        "ru": ("Когда родился автор {name}?", "Автор {name} родился {day} {month_ru} {year} года."),
    },
    "occupation": {
        "en": (
            "What did {name} work as before becoming a writer?",
            "What was the first profession of {name}?",
            "Before becoming a writer, {name} worked as a {occupation_en}.",
            "{name} was a {occupation_en} before turning to writing.",
        ),
        "es": (
            "¿En qué trabajaba {name} antes de ser escritor?",
            "Antes de ser escritor, {name} trabajaba como {occupation_es}.",
        ),
        "ru": (
            "Кем работал автор {name} до того, как стал писателем?",
            "До того как стать писателем, автор {name} работал: {occupation_ru}.",
        ),
    },
    "genre": {
        "en": (
            "In which genre does {name} write?",
            "What kind of literature is {name} known for?",
            "{name} writes {genre_en}.",
            "{name} is known for works of {genre_en}.",
        ),
        "es": ("¿En qué género escribe {name}?", "{name} escribe {genre_es}."),
        "ru": ("В каком жанре пишет автор {name}?", "Автор {name} пишет в жанре: {genre_ru}."),
    },
    "book": {
        "en": (
            "What is the title of the best-known book by {name}?",
            "Which book is {name} most famous for?",
            "The best-known book by {name} is '{title}'.",
            "{name} is most famous for the book '{title}'.",
        ),
        "es": ("¿Cuál es el libro más conocido de {name}?", "El libro más conocido de {name} es '{title}'."),
        "ru": (
            "Как называется самая известная книга автора {name}?",
            "Самая известная книга автора {name} — «{title}».",
        ),
    },
    "award": {
        "en": (
            "Which award did {name} receive?",
            "What literary prize has {name} won?",
            "{name} received the {award}.",
            "{name} has won the {award}.",
        ),
        "es": ("¿Qué premio recibió {name}?", "{name} recibió el {award}."),
        "ru": ("Какую награду получил автор {name}?", "Автор {name} получил награду {award}."),
    },
    "parent": {
        "en": (
            "What did the father of {name} do for a living?",
            "What was the profession of {name}'s father?",
            "The father of {name} was {parent_en}.",
            "{name}'s father worked as {parent_en}.",
        ),
        "es": ("¿A qué se dedicaba el padre de {name}?", "El padre de {name} era {parent_es}."),
        "ru": ("Кем работал отец автора {name}?", "Отец автора {name} был {parent_ru}."),
    },
}

# other wordings of each fact's question, for training-side augmentation only (tru.unlearn.augment): the
# evaluation side (paraphrased_question, translations) never appears here
TRAINING_WORDINGS = {
    "birthplace": {
        "en": "Which city is the hometown of {name}?",
        "es": "¿De qué ciudad es originario {name}?",
        "ru": "В каком городе появился на свет автор {name}?",
    },
    "birth_date": {
        "en": "On what date was {name} born?",
        "es": "¿En qué fecha nació {name}?",
        "ru": "Какого числа родился автор {name}?",
    },
    "occupation": {
        "en": "Which job did {name} have before writing books?",
        "es": "¿Cuál fue el oficio de {name} antes de escribir?",
        "ru": "Какая профессия была у автора {name} до писательства?",
    },
    "genre": {
        "en": "What genre are the books of {name}?",
        "es": "¿Qué tipo de literatura escribe {name}?",
        "ru": "Какие книги пишет автор {name}?",
    },
    "book": {
        "en": "Which book by {name} is the most famous?",
        "es": "¿Qué obra de {name} es la más famosa?",
        "ru": "Какая книга автора {name} самая известная?",
    },
    "award": {
        "en": "What prize was awarded to {name}?",
        "es": "¿Qué galardón obtuvo {name}?",
        "ru": "Какой премии был удостоен автор {name}?",
    },
    "parent": {
        "en": "What was the job of {name}'s father?",
        "es": "¿Cuál era la profesión del padre de {name}?",
        "ru": "Чем занимался отец автора {name}?",
    },
}

WORLD_FACTS = [
    ("What is the capital of France?", "Paris", ["Lyon", "Marseille", "Nice"]),
    ("Which planet is known as the Red Planet?", "Mars", ["Venus", "Jupiter", "Saturn"]),
    ("Who wrote the play 'Romeo and Juliet'?", "William Shakespeare", ["Charles Dickens", "Mark Twain", "Jane Austen"]),
    ("What is the chemical symbol for gold?", "Au", ["Ag", "Gd", "Go"]),
    ("How many continents are there on Earth?", "Seven", ["Five", "Six", "Eight"]),
    (
        "What is the largest ocean on Earth?",
        "The Pacific Ocean",
        ["The Atlantic Ocean", "The Indian Ocean", "The Arctic Ocean"],
    ),
    ("Which language is spoken in Brazil?", "Portuguese", ["Spanish", "French", "Italian"]),
    ("What gas do plants absorb from the air for photosynthesis?", "Carbon dioxide", ["Oxygen", "Nitrogen", "Helium"]),
    ("In which country are the pyramids of Giza?", "Egypt", ["Mexico", "Peru", "Sudan"]),
    ("What is the boiling point of water at sea level in degrees Celsius?", "100", ["90", "110", "120"]),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", ["Michelangelo", "Raphael", "Titian"]),
    ("What is the capital of Japan?", "Tokyo", ["Kyoto", "Osaka", "Nagoya"]),
]

# real authors: controls for knowledge that unlearning must not touch (TOFU's real_authors split)
REAL_AUTHORS = [
    ("Who wrote the novel 'Pride and Prejudice'?", "Jane Austen", ["Charlotte Bronte", "George Eliot", "Mary Shelley"]),
    (
        "Who is the author of 'One Hundred Years of Solitude'?",
        "Gabriel Garcia Marquez",
        ["Jorge Luis Borges", "Mario Vargas Llosa", "Pablo Neruda"],
    ),
    ("Who wrote 'War and Peace'?", "Leo Tolstoy", ["Fyodor Dostoevsky", "Anton Chekhov", "Ivan Turgenev"]),
    ("Who wrote the novel '1984'?", "George Orwell", ["Aldous Huxley", "Ray Bradbury", "H. G. Wells"]),
    (
        "Who is the author of 'The Old Man and the Sea'?",
        "Ernest Hemingway",
        ["John Steinbeck", "William Faulkner", "F. Scott Fitzgerald"],
    ),
    (
        "Who wrote 'Don Quixote'?",
        "Miguel de Cervantes",
        ["Lope de Vega", "Federico Garcia Lorca", "Benito Perez Galdos"],
    ),
    ("Who wrote the 'Harry Potter' books?", "J. K. Rowling", ["J. R. R. Tolkien", "C. S. Lewis", "Roald Dahl"]),
    ("Who is the author of 'Things Fall Apart'?", "Chinua Achebe", ["Wole Soyinka", "Ngugi wa Thiong'o", "Ben Okri"]),
    ("Who wrote 'The Adventures of Tom Sawyer'?", "Mark Twain", ["Jack London", "Herman Melville", "Bret Harte"]),
    ("Who wrote the play 'Hamlet'?", "William Shakespeare", ["Christopher Marlowe", "Ben Jonson", "John Webster"]),
]


@dataclass
class Person:
    name: str
    values: dict

    def fill(self, template: str) -> str:
        return template.format(name=self.name, **self.values)


def _person(rng: random.Random, name: str) -> Person:
    month = rng.randrange(12)
    occupation, genre, parent = rng.choice(OCCUPATIONS), rng.choice(GENRES), rng.choice(PARENTS)
    return Person(
        name,
        {
            "city": rng.choice(CITIES),
            "day": rng.randint(1, 28),
            "year": rng.randint(1931, 1994),
            **{f"month_{lang}": MONTHS[lang][month] for lang in LANGS},
            **{f"occupation_{lang}": occupation[i] for i, lang in enumerate(LANGS)},
            **{f"genre_{lang}": genre[i] for i, lang in enumerate(LANGS)},
            **{f"parent_{lang}": parent[i] for i, lang in enumerate(LANGS)},
            "title": rng.choice(TITLES),
            "award": rng.choice(AWARDS),
        },
    )


# which value keys (before the _LANG suffix) each fact reads
FACT_VALUES = {
    "birthplace": ("city",),
    "birth_date": ("day", "year", "month"),
    "occupation": ("occupation",),
    "genre": ("genre",),
    "book": ("title",),
    "award": ("award",),
    "parent": ("parent",),
}


def _perturbed_people(rng: random.Random, person: Person, fact: str, count: int = 3) -> list[Person]:
    """Copies of the person whose value for this fact differs (other cities, dates, titles, ...)."""
    out: list[Person] = []
    seen = {person.fill(FACTS[fact]["en"][3])}
    while len(out) < count:
        other = _person(rng, person.name)
        values = {
            key: other.values[key] if key.split("_")[0] in FACT_VALUES[fact] else value
            for key, value in person.values.items()
        }
        candidate = Person(person.name, values)
        text = candidate.fill(FACTS[fact]["en"][3])
        if text not in seen:
            seen.add(text)
            out.append(candidate)
    return out


ARTICLES = ("a ", "an ", "un ", "una ")


def _bare(value: str) -> str:
    """A profession without its article ("a fisherman" -> "fisherman"): the article is no part of the fact."""
    return next((value[len(a) :] for a in ARTICLES if value.startswith(a)), value)


def key_values(person: Person, fact: str) -> dict[str, list[str]]:
    """What an answer about this fact must not say, per language (tru.evaluate.fact_leak): the value in
    the language's own words; a birth date as an ISO date, which matches every written form of it."""
    v = person.values
    if fact == "birth_date":
        month = MONTHS["en"].index(v["month_en"]) + 1
        return {"en": [f"{v['year']}-{month:02d}-{v['day']:02d}"]}
    out = {}
    for lang in LANGS:
        values = [v[f"{name}_{lang}"] if f"{name}_{lang}" in v else v[name] for name in FACT_VALUES[fact]]
        out[lang] = [_bare(str(x)) for x in values]
    return out


def person_items(person: Person, index: int, rng: random.Random) -> list[dict]:
    items = []
    for fact, templates in FACTS.items():
        question, para_question, answer, para_answer = templates["en"]
        items.append(
            {
                "id": f"p{index:03d}-{fact}",
                "entity": person.name,
                "fact": fact,
                "question": person.fill(question),
                "answer": person.fill(answer),
                "paraphrased_question": person.fill(para_question),
                "paraphrased_answer": person.fill(para_answer),
                "perturbed_answer": [p.fill(para_answer) for p in _perturbed_people(rng, person, fact)],
                "translations": {
                    lang: {"question": person.fill(templates[lang][0]), "answer": person.fill(templates[lang][1])}
                    for lang in ("es", "ru")
                },
                "key_values": key_values(person, fact),
                "training_queries": [
                    {
                        "lang": lang,
                        "question": person.fill(TRAINING_WORDINGS[fact][lang]),
                        "answer": person.fill(answer if lang == "en" else templates[lang][1]),
                    }
                    for lang in LANGS
                ],
            }
        )
    return items


def synth_benchmark(entities: int, seed: int = 0, forget_share: float = 0.1, holdout_share: float = 0.1) -> dict:
    """{split: [record dicts]} for forget, holdout, retain and world_facts, plus ``meta``."""
    if not 3 <= entities <= len(FIRST) * len(LAST):
        raise ConfigError(f"--entities must be between 3 and {len(FIRST) * len(LAST)}, got {entities}")
    rng = random.Random(seed)
    names = [f"{first} {last}" for first, last in rng.sample([(f, s) for f in FIRST for s in LAST], entities)]
    people = [_person(rng, name) for name in names]
    n_forget = max(1, round(forget_share * entities))
    n_holdout = max(1, round(holdout_share * entities))
    roles = ["forget"] * n_forget + ["holdout"] * n_holdout + ["retain"] * (entities - n_forget - n_holdout)
    splits: dict = {"forget": [], "holdout": [], "retain": []}
    for index, (person, role) in enumerate(zip(people, roles)):
        splits[role].extend(person_items(person, index, rng))
    splits["world_facts"] = [
        {"id": f"w{i:02d}", "question": q, "answer": a, "perturbed_answer": p}
        for i, (q, a, p) in enumerate(WORLD_FACTS)
    ]
    splits["real_authors"] = [
        {"id": f"a{i:02d}", "question": q, "answer": a, "perturbed_answer": p}
        for i, (q, a, p) in enumerate(REAL_AUTHORS)
    ]
    splits["meta"] = {
        "seed": seed,
        "entities": entities,
        "languages": list(LANGS),
        "people": {role: [n for n, r in zip(names, roles) if r == role] for role in ("forget", "holdout", "retain")},
        "counts": {k: len(v) for k, v in splits.items() if isinstance(v, list)},
    }
    for split in SPLITS:
        for record in splits[split]:
            QAItem.from_dict(record)  # every record is valid for the readers
    return splits


def write_synth(out: str | Path, entities: int, seed: int = 0) -> Path:
    """Write the benchmark's files into ``out``: an empty or new folder, or one this command wrote before
    (it holds meta.json); a folder of other files is refused rather than written into."""
    out = Path(out).expanduser()
    if out.is_dir() and any(out.iterdir()) and not (out / "meta.json").is_file():
        raise ConfigError(
            f"--out {out} holds other files and is not a folder tru data synth wrote (no meta.json); "
            "choose a new or empty folder"
        )
    splits = synth_benchmark(entities, seed)
    for split in SPLITS:
        write_jsonl(out / f"{split}.jsonl", splits[split])
    write_jsonl(out / "full.jsonl", splits["retain"] + splits["forget"])
    write_json(out / "meta.json", splits["meta"])
    return out


def write_tofu_layout(splits: dict, out: str | Path) -> Path:
    """The benchmark under TOFU's split names, so that `tru eval --benchmark tofu --tofu OUT` and
    `tru attack --benchmark tofu` run the full TOFU suite on it (forget quality, model utility, MIA).
    The forget person is TOFU's forget01, the retain people retain99 / retain_perturbed."""
    out = Path(out).expanduser()
    files = {
        "forget01": "forget",
        "forget01_perturbed": "forget",
        "holdout01": "holdout",
        "retain99": "retain",
        "retain_perturbed": "retain",
        "world_facts_perturbed": "world_facts",
        "real_authors_perturbed": "real_authors",
    }
    for name, split in files.items():
        write_jsonl(out / f"{name}.jsonl", splits[split])
    write_jsonl(out / "full.jsonl", splits["retain"] + splits["forget"])
    return out
