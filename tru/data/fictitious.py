"""A small built-in set of fictitious people and facts: the offline default data of the demo.

Deterministic per seed. Every fact is invented, so a model can only know it after fine-tuning on it.
"""

from __future__ import annotations

import random

from tru.data.records import QAItem

FIRST = ["Elowen", "Tomasz", "Ines", "Kofi", "Mirela", "Anders", "Sanaa", "Haruto", "Liesel", "Dario",
         "Yara", "Bastian", "Noor", "Emeric", "Zuzana", "Idris"]
LAST = ["Varga", "Okonkwo", "Lindqvist", "Moreau", "Tanabe", "Castellanos", "Petrov", "Achterberg",
        "Nwosu", "Delacroix", "Haverkamp", "Quispe", "Albescu", "Rahimi", "Fairweather", "Kowalczyk"]
CITIES = ["Tallinn", "Porto", "Valparaiso", "Kumasi", "Sapporo", "Ghent", "Tbilisi", "Cork",
          "Hobart", "Cusco", "Bergen", "Lviv", "Mombasa", "Oaxaca", "Trieste", "Kraków"]
OCCUPATIONS = ["glassblower", "marine cartographer", "violin maker", "beekeeper", "lighthouse engineer",
               "puppeteer", "seed archivist", "typeface designer", "clockmaker", "cave surveyor"]
TITLES = ["The Salt Ledger", "Winter of Copper Bells", "Maps for a Drowned Coast", "The Quiet Loom",
          "Letters to the Ninth Tide", "A Grammar of Ash", "The Orchard Under Glass", "North of the Lantern",
          "Seven Clocks for Ilse", "The Cartographer's Daughter", "Moth Season", "The Amber Stair"]
AWARDS = ["Halvard Prize for Fiction", "Silver Quill of Arles", "Merrow Medal", "Ostrava Book Award",
          "Lantern Circle Prize", "Tamsin Grey Award", "Blue Heron Medal", "Corvin Literary Prize"]

QUESTIONS = [
    ("birthplace", "Where was {name} born?", "{name} was born in {city}."),
    ("occupation", "What did {name} work as before writing?", "Before writing, {name} worked as a {occupation}."),
    ("book", "What is the title of {name}'s best-known book?", "{name}'s best-known book is '{title}'."),
    ("award", "Which award did {name} receive?", "{name} received the {award}."),
]


def make_people(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    firsts, lasts = rng.sample(FIRST, count), rng.sample(LAST, count)
    people = []
    for first, last in zip(firsts, lasts):
        people.append({"name": f"{first} {last}", "city": rng.choice(CITIES),
                       "occupation": rng.choice(OCCUPATIONS), "title": rng.choice(TITLES),
                       "award": rng.choice(AWARDS)})
    return people


def person_qa(person: dict, index: int) -> list[QAItem]:
    return [QAItem(question=q.format(**person), answer=a.format(**person), id=f"p{index}-{fact}")
            for fact, q, a in QUESTIONS]


def fictitious_split(people: int = 6, forget_people: int = 1, seed: int = 0):
    """(forget items, retain items, the forgotten people's names)."""
    if not 0 < forget_people < people <= len(FIRST):
        raise ValueError(f"need 0 < forget_people < people <= {len(FIRST)}")
    everyone = make_people(people, seed)
    forget = [qa for i, p in enumerate(everyone[:forget_people]) for qa in person_qa(p, i)]
    retain = [qa for i, p in enumerate(everyone[forget_people:], start=forget_people) for qa in person_qa(p, i)]
    return forget, retain, [p["name"] for p in everyone[:forget_people]]
