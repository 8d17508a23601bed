"""Calibration and evaluation texts: the user's files (one text per line) or the bundled clinical sets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hfm_compress.errors import CompressError
from hfm_compress.modality.text import TextData

MIN_CALIBRATION = 8  # export checks and calibration need a handful of distinct texts
MIN_EVALUATION = 10  # top-5 neighbour agreement needs more than 5 texts


def read_text_lines(path: Path, what: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CompressError(f"{what} file {path} does not exist; expected a text file with one text per line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompressError(f"{what} file {path} cannot be read as UTF-8 text ({exc})") from None
    return [line.strip() for line in lines if line.strip()]


def load_text_data(calib: Path | None, evaluation: Path | None, corpus: Path | None = None) -> TextData:
    """Held-out means held out: evaluation texts that also appear in the calibration set are dropped.

    `corpus` (default: the bundled clinical corpus) is what distill trains on and vocab keeps pieces of; see
    `hold_out_from_corpus` for recipes that use it."""
    from hfm_compress.data import load_texts

    calibration = read_text_lines(calib, "--calib") if calib else load_texts("calib")
    held_out = read_text_lines(evaluation, "--eval") if evaluation else load_texts("eval")
    corpus_texts = read_text_lines(corpus, "--corpus") if corpus else load_texts("corpus")
    if not corpus_texts:
        raise CompressError(f"--corpus file {corpus} has no texts; expected one text per line")
    seen = set(calibration)
    held_out = [text for text in held_out if text not in seen]
    if len(calibration) < MIN_CALIBRATION:
        raise CompressError(f"calibration set has {len(calibration)} texts; expected at least {MIN_CALIBRATION}")
    if len(held_out) < MIN_EVALUATION:
        raise CompressError(
            f"evaluation set has {len(held_out)} texts not also used for calibration; expected at least {MIN_EVALUATION}"
        )
    return TextData(
        calibration=calibration,
        evaluation=held_out,
        calibration_source=str(calib) if calib else "bundled clinical calibration split",
        evaluation_source=str(evaluation) if evaluation else "bundled clinical evaluation split",
        corpus=corpus_texts,
        corpus_source=str(corpus) if corpus else "bundled clinical corpus",
    )


def hold_out_from_corpus(data: TextData) -> TextData:
    """Drop evaluation texts that are also in the corpus: a recipe that distils on the corpus must not be scored on
    texts it trained on."""
    seen = set(data.corpus)
    held_out = [text for text in data.evaluation if text not in seen]
    if len(held_out) < MIN_EVALUATION:
        raise CompressError(f"evaluation set has {len(held_out)} texts not also in the corpus or the calibration "
                            f"set; expected at least {MIN_EVALUATION}")
    return dataclasses.replace(data, evaluation=held_out)
