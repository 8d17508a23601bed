"""Vocabulary pruning: keep the word pieces a domain uses, shrink the embedding table, renumber `tokenizer.json`.

The word-embedding table is half of MiniLM's parameters (30,522 x 384), and a clinical corpus uses a few thousand of
those pieces. Kept pieces are renumbered in their original order, so [PAD] stays 0 when it was 0.

Why texts made only of kept pieces tokenize exactly as before: WordPiece takes the longest vocabulary match at each
position. The original longest match is a kept piece, and nothing longer can appear in a subset of the vocabulary, so
every step picks the same piece, now under its new id. A word whose original pieces were dropped is matched against
the smaller vocabulary: it splits into shorter kept pieces when it can (single characters kept by `keep_chars`), and
becomes [UNK] when it cannot.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import time
from typing import TYPE_CHECKING, Any

from hfm_compress.configs import StepConfig, StepReport, check_range, register_config
from hfm_compress.errors import CompressError, ConfigError

if TYPE_CHECKING:
    import torch

# BERT reserves [unused0]..[unused993]; no text produces them, so they never count toward the frequency floor.
RESERVED = re.compile(r"^\[[^\]\s]+\]$")


@register_config
@dataclasses.dataclass(frozen=True)
class VocabPruneConfig(StepConfig):
    """Keep special tokens, pieces seen in the corpus, a frequency floor and (optionally) single characters."""

    TYPE = "vocab"

    # A piece is kept when it occurs at least this often in the corpus. 1 keeps every piece the corpus uses, so the
    # corpus itself tokenizes exactly as before; higher values trade rare pieces for a smaller table.
    min_count: int = 1
    # Also keep the `keep_top` most frequent pieces of the original vocabulary. BERT-family WordPiece vocabularies list
    # single characters first and then words by corpus frequency, so these are the lowest ids after the reserved
    # [unusedN] slots. 3000 covers the single characters plus ~2000 of the commonest English words (the, patient,
    # pain, ...): general text the domain corpus happens to miss keeps its usual pieces.
    keep_top: int = 3000
    # Keep every ASCII single-character piece and its '##' continuation form, so a word whose pieces were cut is
    # spelled out in kept pieces instead of collapsing to [UNK]; costs about 190 rows.
    keep_chars: bool = True

    def __post_init__(self) -> None:
        for name in ("min_count", "keep_top"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"vocab.{name} = {value!r} is invalid; expected an integer")
        check_range("vocab", "min_count", self.min_count, 1)
        check_range("vocab", "keep_top", self.keep_top, 0)
        if not isinstance(self.keep_chars, bool):
            raise ConfigError(f"vocab.keep_chars = {self.keep_chars!r} is invalid; expected true or false")


def prune_vocabulary(model: "torch.nn.Module", tokenizer_json: str, corpus: list[str],
                     config: VocabPruneConfig) -> tuple[str, StepReport]:
    """Cut `model`'s word embeddings (in place) to the pieces `config` keeps; returns the renumbered tokenizer.json.

    `tokenizer_json` is the text of a Hugging Face `tokenizers` file with a WordPiece model (BERT family).
    The corpus is tokenized with that tokenizer, the same one the runtime uses.
    """
    started = time.perf_counter()
    spec = _parse(tokenizer_json)
    vocab: dict[str, int] = spec["model"]["vocab"]
    embeddings = model.get_input_embeddings()
    if embeddings.num_embeddings != len(vocab):
        raise CompressError(f"the model has {embeddings.num_embeddings} word embeddings but tokenizer.json has "
                            f"{len(vocab)} pieces; expected the model's own tokenizer")
    counts = _count_pieces(_plain_tokenizer(tokenizer_json), corpus)
    reasons = _kept_ids(spec, counts, config)
    kept = sorted(set().union(*reasons.values()))
    new_id = {old: new for new, old in enumerate(kept)}
    new_json = json.dumps(_renumber(spec, new_id), ensure_ascii=False)
    changed = _check_kept_texts(tokenizer_json, new_json, corpus, new_id)
    _cut_embeddings(model, kept, new_id)

    dim = embeddings.embedding_dim
    dropped_types = [i for i, n in counts.items() if i not in new_id]
    details = {
        "vocab_before": len(vocab),
        "vocab_after": len(kept),
        "kept_because": {reason: len(ids) for reason, ids in reasons.items()},
        "embedding_parameters_before": len(vocab) * dim,
        "embedding_parameters_after": len(kept) * dim,
        "parameters_saved": (len(vocab) - len(kept)) * dim,
        "corpus_texts": len(corpus),
        "corpus_tokens": sum(counts.values()),
        "corpus_pieces": len(counts),
        "corpus_tokens_dropped": sum(counts[i] for i in dropped_types),
        "corpus_pieces_dropped": len(dropped_types),
        "corpus_texts_retokenized": changed,
    }
    return new_json, StepReport(step=config.TYPE, config=config.to_dict(), details=details,
                                seconds=time.perf_counter() - started)


def kept_piece_count(tokenizer_json: str, corpus: list[str], config: VocabPruneConfig) -> int:
    """How many pieces `prune_vocabulary` would keep on `corpus` (its embedding rows), without touching a model."""
    spec = _parse(tokenizer_json)
    counts = _count_pieces(_plain_tokenizer(tokenizer_json), corpus)
    return len(set().union(*_kept_ids(spec, counts, config).values()))


def _parse(tokenizer_json: str) -> dict[str, Any]:
    try:
        spec = json.loads(tokenizer_json)
    except json.JSONDecodeError as exc:
        raise CompressError(f"tokenizer.json cannot be parsed ({exc})") from None
    kind = spec.get("model", {}).get("type")
    if kind != "WordPiece":
        raise CompressError(f"vocabulary pruning supports WordPiece tokenizers (BERT family); this one is {kind!r}")
    return spec


def _plain_tokenizer(tokenizer_json: str) -> Any:
    """The tokenizer without padding or truncation, so every piece of every text is seen."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _count_pieces(tokenizer: Any, corpus: list[str]) -> collections.Counter[int]:
    if not corpus:
        raise CompressError("vocabulary pruning needs a domain corpus; got no texts")
    counts: collections.Counter[int] = collections.Counter()
    for encoding in tokenizer.encode_batch(corpus, add_special_tokens=False):
        counts.update(encoding.ids)
    return counts


def _special_ids(spec: dict[str, Any]) -> set[int]:
    """Added tokens (matched before WordPiece runs, so they must all survive), [UNK], and post-processor tokens."""
    vocab = spec["model"]["vocab"]
    ids = {token["id"] for token in spec.get("added_tokens") or []}
    unk = spec["model"].get("unk_token")
    if unk is not None:
        if unk not in vocab:
            raise CompressError(f"tokenizer.json names unk_token {unk!r} but it is not in the vocabulary")
        ids.add(vocab[unk])
    for processor in _processors(spec.get("post_processor")):
        for entry in (processor.get("special_tokens") or {}).values():
            ids.update(entry["ids"])
        for key in ("sep", "cls"):
            if key in processor:
                ids.add(processor[key][1])
    padding = spec.get("padding") or {}
    if "pad_id" in padding:
        ids.add(padding["pad_id"])
    return ids


def _processors(processor: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not processor:
        return []
    if processor.get("type") == "Sequence":
        return [p for child in processor.get("processors", []) for p in _processors(child)]
    return [processor]


def _kept_ids(spec: dict[str, Any], counts: collections.Counter[int],
              config: VocabPruneConfig) -> dict[str, set[int]]:
    vocab: dict[str, int] = spec["model"]["vocab"]
    special = _special_ids(spec)
    regular = sorted(i for token, i in vocab.items() if i not in special and not RESERVED.match(token))
    prefix = spec["model"].get("continuing_subword_prefix") or "##"
    reasons = {
        "special": special,
        "corpus": {i for i, n in counts.items() if n >= config.min_count},
        "frequency_floor": set(regular[: config.keep_top]),
    }
    if config.keep_chars:
        reasons["single_characters"] = {
            i for token, i in vocab.items()
            if _is_ascii_char(token) or (token.startswith(prefix) and _is_ascii_char(token[len(prefix):]))
        }
    return reasons


def _is_ascii_char(text: str) -> bool:
    return len(text) == 1 and text.isascii() and text.isprintable() and not text.isspace()


def _renumber(spec: dict[str, Any], new_id: dict[int, int]) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec))  # deep copy; the caller's dict stays as it was
    model = spec["model"]
    model["vocab"] = {token: new_id[i] for token, i in sorted(model["vocab"].items(), key=lambda item: item[1])
                      if i in new_id}
    for token in spec.get("added_tokens") or []:
        token["id"] = new_id[token["id"]]
    for processor in _processors(spec.get("post_processor")):
        for entry in (processor.get("special_tokens") or {}).values():
            entry["ids"] = [new_id[i] for i in entry["ids"]]
        for key in ("sep", "cls"):
            if key in processor:
                processor[key][1] = new_id[processor[key][1]]
    if spec.get("padding") and "pad_id" in spec["padding"]:
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_id"]]
    return spec


def _check_kept_texts(old_json: str, new_json: str, corpus: list[str], new_id: dict[int, int]) -> int:
    """Every corpus text whose pieces were all kept must give the old pieces under their new ids (with specials).

    Returns how many corpus texts tokenize differently because some of their pieces were cut."""
    old, new = _plain_tokenizer(old_json), _plain_tokenizer(new_json)
    changed = 0
    for before, after in zip(old.encode_batch(corpus), new.encode_batch(corpus)):
        if all(i in new_id for i in before.ids):
            if [new_id[i] for i in before.ids] != after.ids:
                raise CompressError(f"renumbered tokenizer disagrees on a text made of kept pieces: {before.tokens}")
        else:
            changed += 1
    return changed


def _cut_embeddings(model: "torch.nn.Module", kept: list[int], new_id: dict[int, int]) -> None:
    import torch

    old = model.get_input_embeddings()
    index = torch.tensor(kept, dtype=torch.long)
    pad = model.config.pad_token_id
    new_pad = new_id.get(pad) if pad is not None else None
    if pad is not None and new_pad is None:
        raise CompressError(f"the model's pad_token_id {pad} is not a kept piece; expected it in tokenizer.json")
    table = torch.nn.Embedding(len(kept), old.embedding_dim, padding_idx=new_pad,
                               dtype=old.weight.dtype, device=old.weight.device)
    with torch.no_grad():
        table.weight.copy_(old.weight[index])
    table.weight.requires_grad_(old.weight.requires_grad)
    model.set_input_embeddings(table)
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None:  # masked-LM heads: the output rows are the same pieces
        with torch.no_grad():
            output.weight = torch.nn.Parameter(output.weight[index].clone())
            if getattr(output, "bias", None) is not None:
                output.bias = torch.nn.Parameter(output.bias[index].clone())
        output.out_features = len(kept)
    model.config.vocab_size = len(kept)
    model.config.pad_token_id = new_pad

