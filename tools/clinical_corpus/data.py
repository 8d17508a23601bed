"""The generator's data, read from tools/corpus_data/ (see its README.md); nothing here is written by hand."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CORPUS_DATA_DIR = Path(__file__).resolve().parent.parent / "corpus_data"


def read_lines(path: Path) -> list[str]:
    """One item per line; every line counts (no comments, no blank lines)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise ValueError(f"{path}:{number}: blank line")
    return lines


def read_toml(name: str) -> dict[str, Any]:
    path = CORPUS_DATA_DIR / name
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from exc


class Complaint(NamedTuple):
    name: str
    short: str
    qualities: list[str]
    associated: list[str]
    negatives: list[str]
    assessments: list[str]
    workup: list[str]
    worse_with: list[str]
    better_with: list[str]
    exam: list[str]
    timing: str


class Lab(NamedTuple):
    name: str
    short: str
    low: float
    high: float
    decimals: int
    unit: str
    ref_low: float
    ref_high: float


class Drug(NamedTuple):
    name: str
    doses: list[str]
    unit: str
    routes: list[str]
    frequencies: list[str]
    indications: list[str]


# ---- hand-written sentences and the demo set ------------------------------------------------------------------------

CALIB_HANDWRITTEN = read_lines(CORPUS_DATA_DIR / "sentences" / "calib.txt")
EVAL_HANDWRITTEN = read_lines(CORPUS_DATA_DIR / "sentences" / "eval.txt")
# One condition per document; queries name their document by 1-based line number.
DEMO_DOCUMENTS = read_lines(CORPUS_DATA_DIR / "demo" / "documents.txt")
DEMO_QUERIES = [(query["text"], query["document"]) for query in read_toml("demo/queries.toml")["query"]]

# ---- word lists: lists/NAME.txt is what {NAME} draws from in a template ----------------------------------------------

LISTS = {path.stem: read_lines(path) for path in sorted((CORPUS_DATA_DIR / "lists").glob("*.txt"))}

# ---- tables ----------------------------------------------------------------------------------------------------------

_complaints = read_toml("tables/complaints.toml")
DEFAULT_WORSE_WITH: list[str] = _complaints["default_worse_with"]
DEFAULT_BETTER_WITH: list[str] = _complaints["default_better_with"]
COMPLAINTS = [Complaint(c["name"], c["short"], c["qualities"], c["associated"], c["negatives"], c["assessments"],
                        c["workup"], c.get("worse_with", []), c.get("better_with", []), c.get("exam", []),
                        c.get("timing", "onset")) for c in _complaints["complaint"]]

_history = read_toml("tables/history.toml")
CONDITIONS = [(c["name"], c["short"]) for c in _history["condition"]]
QUALIFIERS: list[str] = _history["qualifiers"]
DURATIONS = [(d["long"], d["short"]) for d in _history["duration"]]
SOCIAL: dict[str, list[str]] = _history["social"]

EXAM: dict[str, list[str]] = read_toml("tables/exam.toml")["exam"]

_results = read_toml("tables/results.toml")
LABS = [Lab(**lab) for lab in _results["lab"]]
IMAGING = [(study["study"], study["impressions"]) for study in _results["imaging"]]

_medications = read_toml("tables/medications.toml")
DRUGS = [Drug(**drug) for drug in _medications["drug"]]
LAY_FREQUENCY: dict[str, str] = _medications["lay_frequency"]

_care = read_toml("tables/care.toml")
ALLERGENS = [(allergen["name"], allergen["reactions"]) for allergen in _care["allergen"]]
CONSULTS = [(consult["specialty"], consult["question"]) for consult in _care["consult"]]
MENTAL_STATUS: dict[str, list[str]] = _care["mental_status"]
PROCEDURES = [(p["name"], p["finding"], p["anesthesia"]) for p in _care["procedure"]]

PATIENTS = read_toml("tables/patients.toml")
RELATIVES = [(relative["name"], relative["pronoun"]) for relative in PATIENTS["relative"]]
VITALS: dict[str, Any] = PATIENTS["vitals"]

# family name -> its table in templates.toml (weight, forms, named parts), in file order
TEMPLATES: dict[str, dict[str, Any]] = read_toml("templates.toml")
