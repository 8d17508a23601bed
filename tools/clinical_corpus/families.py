"""The template families of corpus_data/templates.toml: each draws its slots and writes out one of its forms.

A family function takes the rng and returns one text (a sentence or a short multi-sentence note). What a family
draws before its form is chosen (a complaint, a patient, a drug) is drawn whether or not the form uses it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .data import (ALLERGENS, COMPLAINTS, CONSULTS, DURATIONS, EXAM, IMAGING, LAY_FREQUENCY, LISTS, MENTAL_STATUS,
                   PATIENTS, PROCEDURES, RELATIVES, SOCIAL, TEMPLATES, VITALS)
from .slots import (cap, complaint_slots, drug_line, drug_slots, each_then_one, fill, join_and, lab_text, lab_value,
                    number, one_of, patient_slots, some, vitals)

MIN_WORDS, MAX_WORDS = 3, 60


def chief_complaint(rng: random.Random) -> str:
    c = rng.choice(COMPLAINTS)
    slots = {**complaint_slots(rng, c), **patient_slots(rng)}
    return one_of(rng, TEMPLATES["chief_complaint"]["forms"], slots)


def hpi(rng: random.Random) -> str:
    forms = TEMPLATES["hpi"]
    c = rng.choice(COMPLAINTS)
    slots = {**complaint_slots(rng, c), **patient_slots(rng)}
    associated = some(rng, c.associated, rng.randint(1, 3))
    negatives = some(rng, c.negatives, rng.randint(1, 3))
    slots.update(associated_list=join_and(associated), associated_comma=", ".join(associated),
                 negatives=join_and(negatives), negatives_comma=", ".join(negatives))
    if rng.random() < 0.5:
        text = fill(rng, forms["long"], slots)
        if c.worse_with and rng.random() < 0.7:
            text += " " + one_of(rng, forms["modifier"], slots)
        if rng.random() < 0.7:
            text += " " + fill(rng, forms["denial"], slots)
        return text
    return fill(rng, forms["terse"], slots)


def hpi_sentence(rng: random.Random) -> str:
    c = rng.choice([c for c in COMPLAINTS if c.worse_with] if rng.random() < 0.3 else COMPLAINTS)
    return one_of(rng, TEMPLATES["hpi_sentence"]["forms"], {
        **complaint_slots(rng, c),
        "two_associated": lambda: join_and(some(rng, c.associated, 2)),
        "some_associated": lambda: join_and(some(rng, c.associated, rng.randint(1, 4))),
        "no_negatives": lambda: "no " + ", no ".join(some(rng, c.negatives, rng.randint(2, 4))),
    })


def exam(rng: random.Random) -> str:
    slots = {f"exam_{system.lower()}": (lambda system=system: rng.choice(EXAM[system])) for system in EXAM}
    return one_of(rng, TEMPLATES["exam"]["forms"], {
        **slots,
        "exam_systems": lambda: "; ".join(f"{k}: {rng.choice(EXAM[k])}" for k in some(rng, list(EXAM),
                                                                                        rng.randint(1, 5))),
        "some_exam_prose": lambda: join_and(some(rng, LISTS["exam_prose"], rng.randint(2, 3))),
    })


def vital_signs(rng: random.Random) -> str:
    v = vitals(rng)
    form = rng.choice(TEMPLATES["vitals"]["forms"])
    return fill(rng, form, {**v, "time": rng.choice(LISTS["time"]), "fever": number(rng, *VITALS["fever"], 1)})


LAB_KINDS = ("panel", "single", "trend", "repeat", "urine", "micro", "pair")


def labs(rng: random.Random) -> str:
    forms = TEMPLATES["labs"]
    kind = LAB_KINDS[rng.randrange(len(LAB_KINDS))]
    if kind == "panel":
        shown: dict[str, str] = {}
        for lab, value, flag in [lab_value(rng) for _ in range(rng.randint(2, 6))]:
            shown.setdefault(lab.short, lab_text(lab, value, True) + (f" ({flag})" if flag else ""))
        return fill(rng, forms["panel"], {"results": ", ".join(shown.values())})
    lab, value, flag = lab_value(rng)
    return fill(rng, forms[kind], {
        "name": lab.name, "value": value, "unit": f" {lab.unit}" if lab.unit else "",
        "result": lambda: lab_text(lab, value, rng.random() < 0.4),
        "full_result": lab_text(lab, value, False),
        "another_full_result": lambda: lab_text(*lab_value(rng)[:2], False),
        "previous": lambda: number(rng, lab.low, lab.high, lab.decimals),
        "interpretation": forms["interpretation"][{"H": "high", "L": "low", "": "normal"}[flag]],
    })


def imaging(rng: random.Random) -> str:
    study, impressions = rng.choice(IMAGING)
    return one_of(rng, TEMPLATES["imaging"]["forms"], {"study": study, "impression": rng.choice(impressions)})


def ecg(rng: random.Random) -> str:
    finding = fill(rng, rng.choice(LISTS["ecg"]), {"hr": rng.randint(38, 168)})
    return one_of(rng, TEMPLATES["ecg"]["forms"], {"finding": finding})


def medication(rng: random.Random) -> str:
    forms = TEMPLATES["medication"]
    return one_of(rng, forms["forms"], {
        **drug_slots(rng),
        "home_meds": lambda: "; ".join(fill(rng, forms["home_med"], drug_slots(rng))
                                       for _ in range(rng.randint(2, 5))),
    })


def allergy(rng: random.Random) -> str:
    picks = some(rng, [a for a, _ in ALLERGENS], rng.randint(1, 3))
    reactions = dict(ALLERGENS)
    return one_of(rng, TEMPLATES["allergy"]["forms"], {
        "allergy_list": lambda: ", ".join(f"{a} ({rng.choice(reactions[a])})" for a in picks),
        "allergens": join_and(picks), "allergen": picks[0], "reaction": lambda: rng.choice(reactions[picks[0]]),
    })


def assessment_plan(rng: random.Random) -> str:
    c = rng.choice(COMPLAINTS)
    dx = rng.choice(c.assessments)
    work = some(rng, c.workup, rng.randint(1, 3))
    plans = some(rng, LISTS["plan"], rng.randint(1, 3))
    specialty, question = rng.choice(CONSULTS)
    return one_of(rng, TEMPLATES["assessment_plan"]["forms"], {
        **complaint_slots(rng, c), "dx": dx, "work": join_and(work), "plans": "; ".join(plans),
        "work_and_plans": "; ".join(work + plans), "consult_specialty": specialty, "consult_question": question,
        "differential": lambda: join_and(some(rng, c.assessments, rng.randint(2, 4))),
        "other_dx": lambda: rng.choice([d for d in c.assessments if d != dx]),
    })


def discharge(rng: random.Random) -> str:
    slots = drug_slots(rng)
    return one_of(rng, TEMPLATES["discharge"]["forms"], {
        **slots, "lay_frequency": LAY_FREQUENCY.get(slots["frequency"], slots["frequency"]),
        "warnings": lambda: join_and(some(rng, LISTS["warning"], rng.randint(1, 3))),
        "any_diagnosis": lambda: rng.choice(rng.choice(COMPLAINTS).assessments),
    })


def nursing(rng: random.Random) -> str:
    v = vitals(rng)
    slots = drug_slots(rng)
    return one_of(rng, TEMPLATES["nursing"]["forms"], {
        **v, **slots, "time": rng.choice(LISTS["time"]), "intake_ml": lambda: rng.randint(2, 28) * 50,
        "output_ml": lambda: rng.randint(2, 30) * 50, "morse": lambda: rng.randint(0, 12) * 5,
    })


def social_family(rng: random.Random) -> str:
    social = {k: rng.choice(v) for k, v in SOCIAL.items()}
    return one_of(rng, TEMPLATES["social_family"]["forms"], {
        **social, "family_histories": lambda: join_and(some(rng, LISTS["family_history"], rng.randint(1, 3))),
    })


def ros(rng: random.Random) -> str:
    positives = some(rng, LISTS["ros"], rng.randint(1, 3))
    negatives = some(rng, [r for r in LISTS["ros"] if r not in positives], rng.randint(2, 6))
    return one_of(rng, TEMPLATES["ros"]["forms"], {
        "positives": join_and(positives), "negatives": join_and(negatives),
        "positives_comma": ", ".join(positives), "negatives_comma": ", ".join(negatives),
    })


def procedure(rng: random.Random) -> str:
    name, finding, anesthesia = rng.choice(PROCEDURES)
    finding = fill(rng, finding, {"vol": number(rng, 0.6, 6.5, 1), "op": rng.randint(8, 38), "cm": rng.randint(1, 9),
                                  "n": rng.randint(2, 9), "ml": rng.randint(5, 90),
                                  "j": rng.choice([100, 120, 150, 200])})
    return one_of(rng, TEMPLATES["procedure"]["forms"], {
        "procedure": name, "procedure_lowercase": name.lower(), "finding": finding, "anesthesia": anesthesia,
    })


def peds(rng: random.Random) -> str:
    months, years = rng.randint(1, 35), rng.randint(3, 17)
    return one_of(rng, TEMPLATES["peds"]["forms"], {
        "months": months, "years": years, "child": rng.choice(PATIENTS["child"]),
        "recent_duration": lambda: rng.choice(DURATIONS[:10])[0],  # the ten shortest: 2 hours to 10 days
        "peds_findings": lambda: join_and(some(rng, LISTS["peds_finding"], rng.randint(2, 4))),
    })


def ob(rng: random.Random) -> str:
    gravida = rng.randint(1, 6)
    para = rng.randint(0, gravida - 1)
    weeks, days = rng.randint(6, 41), rng.randint(0, 6)
    return one_of(rng, TEMPLATES["ob"]["forms"], {
        "gravida": gravida, "para": para, "weeks": weeks, "days": days, "weeks_from_20": max(weeks, 20),
        "fundal_height": lambda: max(weeks, 20) + rng.randint(-3, 3), "ebl_ml": lambda: rng.randint(2, 16) * 50,
    })


def psych(rng: random.Random) -> str:
    mse = {k: rng.choice(v) for k, v in MENTAL_STATUS.items()}
    low_mood = next(c for c in COMPLAINTS if c.name == "depressed mood")
    return one_of(rng, TEMPLATES["psych"]["forms"], {
        **mse, "depression_symptoms": lambda: join_and(some(rng, low_mood.associated, rng.randint(2, 4))),
    })


def third_person(text: str) -> str:
    return f" {text} ".replace(" my ", " their ").replace(" I ", " they ").strip()


def family_message(rng: random.Random) -> str:
    relative, pronoun = rng.choice(RELATIVES)
    symptom = rng.choice([x for x in LISTS["lay_symptom"] if " I " not in f" {x} "])
    return fill(rng, TEMPLATES["lay"]["family_message"],
                {"relative": relative, "symptom": symptom.replace("my ", pronoun + " ")})


def lay(rng: random.Random) -> str:
    return one_of(rng, TEMPLATES["lay"]["forms"], {
        "family_message": lambda: family_message(rng),
        "lay_symptom_third_person": lambda: third_person(rng.choice(LISTS["lay_symptom"])),
    })


def note(rng: random.Random) -> str:
    """A short note about one complaint; trailing parts are dropped to stay within MAX_WORDS."""
    forms = TEMPLATES["note"]
    c = rng.choice(COMPLAINTS)
    slots = {**complaint_slots(rng, c), **patient_slots(rng), **vitals(rng)}
    systems = ["General"] + some(rng, c.exam, rng.randint(min(1, len(c.exam)), len(c.exam)))
    exam_part = "; ".join(f"{k}: {rng.choice(EXAM[k])}" for k in systems) + "."
    dx = some(rng, c.assessments, 2)
    slots.update({
        "two_associated": lambda: join_and(some(rng, c.associated, 2)),
        "two_associated_comma": lambda: ", ".join(some(rng, c.associated, 2)),
        "first_dx": dx[0], "vs_second_dx": "vs " + dx[1] if len(dx) > 1 else "new",
        "some_workup": lambda: join_and(some(rng, c.workup, rng.randint(1, 3))),
        "two_workup": lambda: join_and(some(rng, c.workup, 2)),
    })
    parts = [each_then_one(rng, forms["opening"], slots), each_then_one(rng, forms["vitals"], slots), exam_part,
             each_then_one(rng, forms["impression"], slots), each_then_one(rng, forms["plan"], slots)]
    text = ""
    for part in parts:
        candidate = f"{text} {part}".strip()
        if len(candidate.split()) > MAX_WORDS:
            break
        text = candidate
    return text


FUNCTIONS: dict[str, Callable[[random.Random], str]] = {
    "chief_complaint": chief_complaint, "hpi": hpi, "hpi_sentence": hpi_sentence, "exam": exam,
    "vitals": vital_signs, "labs": labs, "imaging": imaging, "ecg": ecg, "medication": medication, "allergy": allergy,
    "assessment_plan": assessment_plan, "discharge": discharge, "nursing": nursing, "social_family": social_family,
    "ros": ros, "procedure": procedure, "peds": peds, "ob": ob, "psych": psych, "lay": lay, "note": note,
}
if set(TEMPLATES) != set(FUNCTIONS):
    raise ValueError(f"templates.toml families {sorted(TEMPLATES)} do not match the generator's {sorted(FUNCTIONS)}")
# (family, weight) in templates.toml order
FAMILIES = [(FUNCTIONS[name], table["weight"]) for name, table in TEMPLATES.items()]
_CUMULATIVE = [sum(w for _, w in FAMILIES[:i + 1]) for i in range(len(FAMILIES))]


def template_line(rng: random.Random) -> str:
    draw = rng.randrange(_CUMULATIVE[-1])
    family = next(f for (f, _), c in zip(FAMILIES, _CUMULATIVE) if draw < c)
    return " ".join(family(rng).split())


def template_lines(rng: random.Random, n: int, exclude: dict[str, None]) -> list[str]:
    """n distinct template lines of MIN_WORDS..MAX_WORDS words, none in `exclude`."""
    out: dict[str, None] = {}
    for _ in range(n * 50):
        if len(out) == n:
            return list(out)
        line = template_line(rng)
        if MIN_WORDS <= len(line.split()) <= MAX_WORDS and line not in exclude and line not in out:
            out[line] = None
    raise RuntimeError(f"only {len(out)} of {n} distinct template lines; widen the vocabularies")
