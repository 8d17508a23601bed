"""Tiny random-weight Hugging Face BERT folders for toolchain tests (seconds to build, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

from tiny_artifacts import SPECIAL

# A clinical-ish word list so the bundled texts tokenize to more than [UNK].
CLINICAL_WORDS = (
    "patient reports chest pain shortness of breath fever cough headache nausea vomiting abdominal the a and with no "
    "history denies left right arm leg since yesterday mild severe acute chronic mg daily twice by mouth blood "
    "pressure heart rate normal rhythm lung lower upper exam skin rash swelling tenderness days weeks hours year old "
    "male female diabetes hypertension infection pneumonia fracture x ray ct scan mri findings impression plan "
    "follow up tablet dose , . : ; - / ( ) 1 2 3 4 5 6 7 8 9 0"
).split()


def save_tiny_bert(folder: Path, classification: bool = False, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    torch.manual_seed(seed)
    vocab = list(dict.fromkeys(SPECIAL + CLINICAL_WORDS + ["##s", "##ed", "##ing", "##ly"]))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=128,
    )
    if classification:
        config.num_labels = 3
        config.id2label = {0: "routine", 1: "urgent", 2: "emergency"}
        config.label2id = {v: k for k, v in config.id2label.items()}
        config.architectures = ["BertForSequenceClassification"]
        model = BertForSequenceClassification(config)
    else:
        config.architectures = ["BertModel"]
        model = BertModel(config)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
