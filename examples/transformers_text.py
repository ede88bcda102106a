"""A Hugging Face text classifier under typos, OCR errors, speech-to-text errors and casing.

Offline: a tiny BERT-like classifier (1 layer, 64 dimensions) is built from a config, its
WordPiece tokenizer is trained on the spot, and it is trained for 400 steps (seconds on a CPU)
on half of the 370 review sentences bundled with wince (positive, negative, neutral). It is no
good model (50-60% accurate on the other half, where always answering one class scores
about 33%); the point is the analysis. The `transformers` pipeline is passed to
`wince.run` as it is: class names come from the model's `id2label`, batches are tokenised
with padding and truncation. The tokenizer lowercases, so re-casing should not matter; a
misspelled word falls apart into other sub-word pieces, so typos should.

Needs the huggingface extra: pip install 'wince[huggingface]'.

    python examples/transformers_text.py            # full size
    python examples/transformers_text.py --quick    # reduced size, as CI runs it
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from _findings import print_findings
from sklearn.model_selection import train_test_split
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer, pipeline

import wince
from wince.datasets.base import ArrayDataset

OUT_DIR = Path("wince-examples/transformers-text")
CLASSES = ("negative", "neutral", "positive")
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def review_sentences() -> tuple[list[str], list[str]]:
    """The bundled sentences (wince/demo/sentences.tsv): texts and their labels."""
    lines = (resources.files("wince.demo") / "sentences.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in lines.splitlines() if line and not line.startswith("#")]
    return [text for _, text in rows], [label for label, _ in rows]


def train_tokenizer(texts: list[str], vocab_size: int = 600) -> BertTokenizer:
    """A lowercasing WordPiece tokenizer learnt from the training texts, as BERT's was."""
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL)
    wordpiece.train_from_iterator(texts, trainer=trainer)
    return BertTokenizer(vocab=wordpiece.get_vocab())


def train_classifier(
    texts: list[str], labels: list[str], tokenizer: BertTokenizer, steps: int = 400
) -> BertForSequenceClassification:
    """A tiny BERT trained from scratch with AdamW on mini-batches of 16 sentences."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=64,
        # 185 sentences: strong dropout keeps it from learning them by heart
        hidden_dropout_prob=0.3,
        attention_probs_dropout_prob=0.3,
        id2label=dict(enumerate(CLASSES)),
    )
    model = BertForSequenceClassification(config)
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    targets = torch.tensor([CLASSES.index(label) for label in labels])
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # matrices this small: threads cost more than they save
    try:
        model.train()
        for _ in range(steps):
            batch = torch.randint(len(texts), (16,), generator=generator)
            loss = model(
                input_ids=encoded["input_ids"][batch],
                attention_mask=encoded["attention_mask"][batch],
                labels=targets[batch],
            ).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    protect = {"protect": ["numbers", "negations"]}
    return {
        "name": "example-transformers-text",
        "description": "A tiny BERT-like transformers classifier on review sentiment.",
        "perturbations": [
            {"name": "text.typos", "levels": levels, "params": protect},
            {"name": "text.ocr_errors", "levels": levels, "params": protect},
            {"name": "text.speech_errors", "levels": levels, "params": protect},
            {"name": "text.casing", "levels": levels, "params": {"style": "upper"}},
        ],
        "combinations": "none" if quick else "pairwise",
        "repeats": 2 if quick else 5,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Train, analyse, print the findings and write the report; returns what was produced."""
    out = Path(out_dir)
    texts, labels = review_sentences()
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=0.5, random_state=0, stratify=labels
    )
    if quick:
        x_test, y_test = x_test[:100], y_test[:100]
    tokenizer = train_tokenizer(x_train)
    model = train_classifier(x_train, y_train, tokenizer)
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    data = ArrayDataset(x_test, y_test, modality="text", name="review sentences (test half)")
    run = wince.run(classifier, data, plan(quick), store=str(out / ".wince"))
    profile = run.analyze()
    print_findings(run, profile, quality="accuracy", harms=("flip_rate",))
    # save_pretrained writes what a plan's model section loads: {transformers: <folder>}
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    report = run.report(out=out / f"report-{run.id}.html")
    print(f"  model: {out / 'model'} (plan: model: {{transformers: {out / 'model'}}})")
    print(f"  report: {report}")
    return {"run_id": run.id, "report": report, "verdicts": profile.verdicts.scenarios}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)
