"""Text preprocessing with the `tokenizers` library from the artifact's tokenizer.json.

Batches are padded to the longest text in the batch (the real sequence length, never the model maximum) and
truncated at the model's limit.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from tokenizers import Tokenizer

from hfm_runtime.errors import ArtifactError, InputError

DEFAULT_MAX_CHARS = 100_000


class TextPreprocessor:
    def __init__(self, tokenizer_json: str, spec: Mapping[str, Any], input_names: Sequence[str]) -> None:
        try:
            self.tokenizer = Tokenizer.from_str(tokenizer_json)
        except Exception as exc:  # tokenizers raises a bare Exception subclass
            raise ArtifactError(f"tokenizer.json in the artifact cannot be loaded ({exc})") from None
        self.max_length = int(spec.get("max_length", 512))
        self.max_chars = int(spec.get("max_chars", DEFAULT_MAX_CHARS))
        self.input_names = tuple(input_names)
        self.unknown_token = str(spec.get("unk_token", "[UNK]"))  # the safety features count its share of pieces
        self.tokenizer.enable_truncation(max_length=self.max_length)
        pad_id = self.tokenizer.token_to_id(spec.get("pad_token", "[PAD]"))
        self.tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=spec.get("pad_token", "[PAD]"))

    def validate(self, inputs: Any) -> list[str]:
        """Accept one text or a list of texts; reject anything else with the index of the bad item and what is wrong.

        Refused: non-strings, texts over `max_chars`, empty or whitespace-only texts (they would embed as the special
        tokens alone), and texts that UTF-8 cannot encode (lone surrogates, e.g. from bytes decoded with
        errors="surrogateescape", as Python decodes invalid UTF-8 in command-line arguments), which the tokenizer
        would reject with a bare TypeError.
        """
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise InputError(f"inputs must be a text or a list of texts, got {type(inputs).__name__}")
        if not inputs:
            raise InputError("inputs is an empty list; expected at least one text")
        for index, text in enumerate(inputs):
            if not isinstance(text, str):
                raise InputError(f"input {index} is a {type(text).__name__}; expected a text (str)")
            if len(text) > self.max_chars:
                raise InputError(
                    f"input {index} has {len(text):,} characters; this artifact accepts at most {self.max_chars:,} "
                    f"(it reads only the first {self.max_length} tokens): split long documents"
                )
            if not text.strip():
                raise InputError(f"input {index} is {'empty' if not text else 'only whitespace'}; expected text")
            _check_encodable(text, index)
        return list(inputs)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}

    def token_count(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)


def _check_encodable(text: str, index: int) -> None:
    """Refuse a text that UTF-8 cannot encode, naming the first bad character's position."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"input {index} has a lone surrogate {text[exc.start]!r} at character {exc.start}, which is not text "
            "(UTF-8 cannot encode it; invalid bytes decoded with errors='surrogateescape' give these); expected "
            "valid Unicode text"
        ) from None
