"""Drawing from the tables, and `fill`, which writes out one template form (syntax: corpus_data/templates.toml).

Every draw goes through the caller's random.Random, in a fixed order: a slot is drawn where it appears in the form,
left to right, then the [a|b] groups, so the same seed gives the same lines.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .data import (CONDITIONS, DEFAULT_BETTER_WITH, DEFAULT_WORSE_WITH, DRUGS, DURATIONS, LABS, LISTS, PATIENTS,
                   QUALIFIERS, VITALS, Complaint, Lab)

# A slot's value: a fixed value, or a function drawn afresh each time the slot appears in a form.
Slots = Mapping[str, Any]

_ALTERNATION = re.compile(r"\[([^\[\]|]*(?:\|[^\[\]|]*)+)\]")
_NUMBER = r"-?\d+(?:\.\d+)?"
_SLOT = re.compile(rf"\{{(?:(?P<low>{_NUMBER})\.\.(?P<high>{_NUMBER})|(?P<name>[A-Za-z_][A-Za-z0-9_]*))\}}")


def join_and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def some(rng: random.Random, seq: Sequence[Any], k: int) -> list[Any]:
    """k distinct items in draw order (own implementation, so output does not depend on random.sample)."""
    pool = list(seq)
    return [pool.pop(rng.randrange(len(pool))) for _ in range(min(k, len(pool)))]


def number(rng: random.Random, low: float, high: float, decimals: int) -> str:
    scale = 10 ** decimals
    value = rng.randint(round(low * scale), round(high * scale)) / scale
    return f"{value:.{decimals}f}"


def alt(rng: random.Random, text: str) -> str:
    """Replace every [a|b|c] group in text with one of its options, left to right."""
    return _ALTERNATION.sub(lambda match: rng.choice(match.group(1).split("|")), text)


def fill(rng: random.Random, form: str, slots: Slots) -> str:
    """Write out one form: its {slots} left to right (family slots, then BASE_SLOTS, then lists/), then [a|b]."""
    def value(match: re.Match[str]) -> str:
        if match["name"] is None:
            low, high = match["low"], match["high"]
            return number(rng, float(low), float(high), max(len(low.partition(".")[2]), len(high.partition(".")[2])))
        name = match["name"]
        key = name[0].lower() + name[1:]
        if key in slots:
            text = slots[key]() if callable(slots[key]) else slots[key]
        elif key in BASE_SLOTS:
            text = BASE_SLOTS[key](rng)
        elif key in LISTS:
            text = rng.choice(LISTS[key])
        else:
            raise ValueError(f"unknown slot {{{name}}} in template {form!r}; this family has "
                           + ", ".join(sorted(slots)) + " (and " + ", ".join(sorted(BASE_SLOTS)) + " and lists/)")
        return cap(str(text)) if name[0].isupper() else str(text)

    return alt(rng, _SLOT.sub(value, form))


def one_of(rng: random.Random, forms: Sequence[str], slots: Slots) -> str:
    """Draw one form, then write it out."""
    return fill(rng, rng.choice(forms), slots)


def each_then_one(rng: random.Random, forms: Sequence[str], slots: Slots) -> str:
    """Write out every form, then draw one (the parts of a note are drawn this way; keeps the output as it was)."""
    return rng.choice([fill(rng, form, slots) for form in forms])


# ---- patients -------------------------------------------------------------------------------------------------------


def age_sex(rng: random.Random) -> tuple[int, str, str]:
    """(age, 'woman' / 'female' / 'man' / 'male', 'F' / 'M')."""
    age = rng.randint(18, 96)
    female = rng.random() < 0.5
    word = rng.choice(PATIENTS["female"] if female else PATIENTS["male"])
    return age, word, "F" if female else "M"


def patient_slots(rng: random.Random) -> dict[str, Any]:
    age, sex_word, sex = age_sex(rng)
    return {"age": age, "sex_word": sex_word, "sex": sex}


def vitals(rng: random.Random) -> dict[str, str]:
    """Near-normal most of the time, deranged (each sign on its own) otherwise."""
    def sign(name: str) -> str:
        spec = VITALS[name]
        low, high = spec["normal"] if rng.random() < 0.7 else spec["wide"]
        return number(rng, low, high, spec.get("decimals", 0))

    sbp = int(sign("systolic"))
    dbp = rng.randint(max(40, sbp // 2 - 8), max(max(40, sbp // 2 - 8), min(122, sbp - 28)))
    tc = sign("temperature")
    spo2 = int(sign("saturation"))
    o2 = rng.choice(VITALS["room_air"]) if spo2 >= 94 and rng.random() < 0.8 else rng.choice(VITALS["oxygen"])
    return {"bp": f"{sbp}/{dbp}", "hr": sign("heart_rate"), "rr": sign("respiratory_rate"), "tc": tc,
            "tf": f"{float(tc) * 9 / 5 + 32:.1f}", "spo2": str(spo2), "o2": o2, "wt": number(rng, *VITALS["weight"], 1),
            "pain": str(rng.randint(0, 10)), "gcs": sign("gcs")}


def history(rng: random.Random, short: bool) -> list[str]:
    """One to four past conditions, in shorthand or in full with an occasional qualifier."""
    items = some(rng, CONDITIONS, rng.randint(1, 4))
    if short:
        return [s for _, s in items]
    return [rng.choice(QUALIFIERS) + full for full, _ in items]


def duration(rng: random.Random, short: bool) -> str:
    full, abbr = rng.choice(DURATIONS)
    return abbr if short else full


# Slots every family has (see the head of templates.toml).
BASE_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "duration": lambda rng: duration(rng, False),
    "duration_short": lambda rng: duration(rng, True),
    "history": lambda rng: join_and(history(rng, False)),
    "history_short": lambda rng: ", ".join(history(rng, True)),
}

# ---- complaints -----------------------------------------------------------------------------------------------------


def is_are(noun: str) -> str:
    return "are" if noun.endswith("s") or " and " in noun else "is"


def onset(rng: random.Random, c: Complaint) -> str:
    """'that started last night'; 'last night' for events; 'over the past 2 weeks' for gradual complaints."""
    if c.timing == "gradual":
        return f"over the past {duration(rng, False)}"
    if c.timing == "event":
        return rng.choice(LISTS["onset"])
    return f"that started {rng.choice(LISTS['onset'])}"


def course(rng: random.Random, c: Complaint) -> str:
    """'<quality> <complaint>' preceded by how long, or followed by when for events."""
    if c.timing == "event":
        return f"{rng.choice(c.qualities)} {c.name} {rng.choice(LISTS['onset'])}"
    return f"{duration(rng, False)} of {rng.choice(c.qualities)} {c.name}"


def complaint_slots(rng: random.Random, c: Complaint) -> dict[str, Any]:
    """The complaint slots of templates.toml; list items are drawn each time they appear."""
    return {
        "complaint": c.name, "short": c.short, "is_are": is_are(c.name),
        "quality": lambda: rng.choice(c.qualities), "associated": lambda: rng.choice(c.associated),
        "negative": lambda: rng.choice(c.negatives), "assessment": lambda: rng.choice(c.assessments),
        "worse": lambda: rng.choice(c.worse_with or DEFAULT_WORSE_WITH),
        "better": lambda: rng.choice(c.better_with or DEFAULT_BETTER_WITH),
        "course": lambda: course(rng, c), "onset_phrase": lambda: onset(rng, c),
    }


# ---- results and medications ----------------------------------------------------------------------------------------


def lab_value(rng: random.Random) -> tuple[Lab, str, str]:
    """A lab, a value for it, and its flag: 'H', 'L' or ''."""
    lab = rng.choice(LABS)
    value = number(rng, lab.low, lab.high, lab.decimals)
    flag = "H" if float(value) > lab.ref_high else "L" if float(value) < lab.ref_low else ""
    return lab, value, flag


def lab_text(lab: Lab, value: str, short: bool) -> str:
    return f"{lab.short if short else lab.name} {value}" + (f" {lab.unit}" if lab.unit else "")


def drug_line(rng: random.Random) -> tuple[str, str, str, str, str, str]:
    """(name, dose, unit, route, frequency, indication) of one drug."""
    name, doses, unit, routes, freqs, indications = rng.choice(DRUGS)
    return name, rng.choice(doses), unit, rng.choice(routes), rng.choice(freqs), rng.choice(indications)


def drug_slots(rng: random.Random) -> dict[str, str]:
    name, dose, unit, route, freq, ind = drug_line(rng)
    return {"drug": name, "dose": dose, "unit": unit, "route": route, "frequency": freq, "indication": ind}
