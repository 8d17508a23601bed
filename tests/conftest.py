import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_artifacts import make_text_artifact  # noqa: E402


@pytest.fixture
def tiny_artifact(tmp_path: Path) -> Path:
    return make_text_artifact(tmp_path / "tiny.hfm")


@pytest.fixture
def tiny_classifier(tmp_path: Path) -> Path:
    return make_text_artifact(tmp_path / "tiny-cls.hfm", task="classification")
