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


@pytest.fixture(scope="session")
def tiny_bert_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight BERT saved as a Hugging Face folder with a fast tokenizer (needs the [compress] extra)."""
    from tiny_hf import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), classification=False)


@pytest.fixture(scope="session")
def tiny_bert_classifier_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_hf import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert-cls"), classification=True)
