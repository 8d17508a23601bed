"""Calibration and evaluation texts: the user's files (one text per line) or the bundled clinical sets."""

from __future__ import annotations

from pathlib import Path

from hfm_compress.errors import CompressError
from hfm_compress.pipeline import TextData

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


def load_text_data(calib: Path | None, evaluation: Path | None) -> TextData:
    """Held-out means held out: evaluation texts that also appear in the calibration set are dropped."""
    from hfm_compress.data import load_texts

    calibration = read_text_lines(calib, "--calib") if calib else load_texts("calib")
    held_out = read_text_lines(evaluation, "--eval") if evaluation else load_texts("eval")
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
    )
