"""Subgroups of clinical texts for per-subgroup fidelity: a topic from a documented keyword rule, and a length band.

Texts carry no labels, so the evaluation groups them by what they talk about and how long they are:

- `topic`: one of `TOPICS`. Each topic has a list of keywords (below): whole words or phrases, a trailing `*` matches
  any ending (`cardi*` matches cardiac, cardiology), and a few entries are regular expressions (marked `re:`, e.g.
  `mg` as a dose but not `mg/dL` as a lab value). A text's score for a topic is the number of the topic's distinct
  keywords it contains (case-insensitive); the topic with the highest score wins, ties go to the topic listed first
  in `TOPICS`, and a text with no keyword at all is "other". The order puts the more specific context first:
  pregnancy and children before the organ systems, the organ systems before infection, and medication (doses and
  prescriptions, which appear in every kind of note) last. Keywords are plain mentions: a negated one ("no fever")
  still counts, and words that mostly appear negated or in routine vitals (afebrile, meningismus, GCS) are left out.
- `length`: word count (whitespace-separated), "short (<=10 words)", "medium (11-25 words)" or "long (>25 words)".

The rule is deliberately simple and transparent: it groups the evaluation texts so a drop in one clinical area is
visible, it is not a classifier to trust for anything else.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

TOPICS = ("maternal_child", "neuro_mental", "cardiovascular", "respiratory", "digestive", "infection", "medication")
OTHER = "other"
SHORT_WORDS, LONG_WORDS = 10, 25
LENGTHS = (f"short (<={SHORT_WORDS} words)", f"medium ({SHORT_WORDS + 1}-{LONG_WORDS} words)",
           f"long (>{LONG_WORDS} words)")

KEYWORDS: dict[str, tuple[str, ...]] = {
    "maternal_child": (
        "pregnan*", "gestation*", "antenatal", "prenatal", "postnatal", "postpartum", "perinatal", "labour", "labor",
        "delivery", "cervix", "ctg", "fetal", "foetal", "fundus", "lochia", "baby", "babies", "infant*", "newborn*",
        "neonat*", "child", "children", "childhood", "boy", "girl", "paediatric*", "pediatric*", "nappies", "nappy",
        "diaper*", "formula", "fontanelle", "centile", "percentile", "breastfeed*", "croup", "preeclampsia",
        "pre-eclampsia", "beta-hcg", "miscarriage", "vaginal bleeding", "uterine",
        "re:\\b\\d+-year-old (?:boy|girl)\\b",
    ),
    "neuro_mental": (
        "stroke", "seizure*", "epilep*", "antiepileptic", "headache*", "migraine", "numb*", "tingling", "weakness",
        "speech", "dysarthria", "aphasia", "confusion", "confused", "delirium", "dementia", "forgetful*", "memory",
        "dizziness", "dizzy", "vertigo", "neuro*", "cerebral", "brain", "thrombectomy", "thrombolysis", "nihss",
        "papilloedema", "papilledema", "diplopia", "double vision", "tremor", "parkinson*", "nerve*", "facial droop",
        "depress*", "anxiety", "anxious", "panic", "psych*", "suicid*", "hearing voices", "voices", "manic", "mania",
        "bipolar", "bpad", "tearful", "mood", "phq-9", "gad-7", "alcohol", "opiate*", "overdose", "substance use",
        "insight", "hallucinat*", "schizo*", "insomnia", "postictal",
    ),
    "cardiovascular": (
        "chest pain", "chest discomfort", "heart", "cardi*", "atrial", "fibrillation", "arrhythmi*", "palpitation*",
        "tachycardi*", "bradycardi*", "murmur", "angina", "coronary", "myocardial", "infarct*", "stent*", "troponin",
        "ecg", "ekg", "st depression", "st elevation", "hypertension", "htn", "blood pressure*", "aort*", "dvt",
        "embolism", "thrombo*", "anticoagula*", "syncope", "bnp", "edema", "oedema",
        "ankle-brachial", "claudication", "pci", "cad", "carotid*", "valve", "echo", "jvd", "holter", "telemetry",
        "pacing", "q waves", "t waves", "ankles swell",
    ),
    "respiratory": (
        "cough*", "wheez*", "breath*", "dyspn*", "sob", "asthma*", "copd", "lung*", "pulmonary", "pneumon*",
        "sputum", "inhaler*", "spirometry", "peak flow", "oxygen", "spo2", "saturation*", "crackles", "bronch*",
        "pleural", "cxr", "chest x-ray", "airway", "stridor", "snor*", "respiratory", "lobe", "ctab", "smoker",
        "smoking",
    ),
    "digestive": (
        "abdom*", "abd", "bowel*", "stool*", "diarrh*", "constipat*", "vomit*", "nausea", "appendi*", "hernia",
        "colitis", "crohn*", "liver", "cirrhosis", "jaundice", "icterus", "bilirubin", "lipase", "pancreat*",
        "gallbladder", "biliary", "murphy", "endoscop*", "colonoscop*", "gastr*", "stomach", "dysphagia", "reflux",
        "hematemesis", "haematemesis", "melena", "calprotectin", "rectal", "rovsing", "mcburney", "nasogastric",
        "coffee grounds", "flatus",
    ),
    "infection": (
        "fever*", "febrile", "sepsis", "septic", "infect*", "antibiotic*", "cultur*", "viral", "virus",
        "influenza", "covid*", "hiv", "hepatitis", "tuberculosis", "acid-fast", "malaria", "syphilis", "gonorrh*",
        "chlamydia", "cellulitis", "abscess", "pyelonephritis", "uti", "meningitis", "difficile", "vaccin*",
        "pharyngitis", "exudate", "strep*", "isolation", "chills", "amoxicillin*", "penicillin", "nitrofurantoin",
        "impetigo", "shingles", "scabies", "permethrin", "vegetation",
    ),
    "medication": (
        "re:\\b(?:mg|mcg|units?)\\b(?!/)", "dose*", "dosing", "tablet*", "capsule*", "prescri*", "rx", "po", "bid",
        "tid", "daily", "nightly", "prn", "refill*", "disp", "medication*", "meds", "started on", "insulin*",
        "metformin", "atorvastatin", "amlodipine", "lisinopril", "apixaban", "warfarin", "levothyroxine",
        "methotrexate", "acetaminophen", "paracetamol", "ibuprofen", "nsaid*", "opioid*", "naloxone", "naltrexone",
        "tamsulosin", "nitroglycerin", "antihistamine", "allergy", "side effect*", "adherence", "polyethylene glycol",
        "subcut", "by mouth",
    ),
}


def _pattern(keyword: str) -> re.Pattern[str]:
    if keyword.startswith("re:"):
        return re.compile(keyword[3:], re.IGNORECASE)
    prefix = keyword.endswith("*")
    words = keyword.rstrip("*").split()
    body = r"\s+".join(re.escape(word) for word in words)
    # Word boundaries that also hold for keywords starting or ending in a non-word character (e.g. "phq-9").
    return re.compile(r"(?<![\w-])" + body + (r"[\w-]*" if prefix else r"(?![\w])"), re.IGNORECASE)


_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    topic: tuple(_pattern(keyword) for keyword in KEYWORDS[topic]) for topic in TOPICS
}


def topic_scores(text: str) -> dict[str, int]:
    """Number of distinct keywords of each topic found in `text`."""
    return {topic: sum(1 for pattern in _PATTERNS[topic] if pattern.search(text)) for topic in TOPICS}


def text_topic(text: str) -> str:
    """The topic with the most keywords in `text` (ties: the first in `TOPICS`), or "other" without any."""
    scores = topic_scores(text)
    best = max(TOPICS, key=lambda topic: (scores[topic], -TOPICS.index(topic)))
    return best if scores[best] > 0 else OTHER


def text_length(text: str) -> str:
    words = len(text.split())
    return LENGTHS[0] if words <= SHORT_WORDS else LENGTHS[1] if words <= LONG_WORDS else LENGTHS[2]


def text_subgroups(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """{"topic": (n,) str, "length": (n,) str} for `texts`, in order."""
    return {"topic": np.array([text_topic(text) for text in texts], dtype=str),
            "length": np.array([text_length(text) for text in texts], dtype=str)}
