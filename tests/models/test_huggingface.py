"""Hugging Face adapters on tiny models built from configs here (nothing is downloaded).

References are independent of the adapters: the pipelines' own outputs (label strings mapped
back to indices), and forward passes of the torch model on one unpadded sample at a time.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import wince
from require import require_module
from wince.datasets.base import ArrayDataset
from wince.errors import DataError, ModelError, ParameterError, PlanError
from wince.models import SentenceTransformerAdapter, TransformersAdapter, as_model
from wince.models.loading import load_model
from wince.plan import as_plan

torch = require_module("torch", "huggingface")
transformers = require_module("transformers", "huggingface")
sentence_transformers = require_module("sentence_transformers", "huggingface")
st_modules = require_module("sentence_transformers.sentence_transformer.modules", "huggingface")

pytestmark = pytest.mark.torch

WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "was",
    "is",
    "good",
    "bad",
    "great",
    "awful",
    "not",
    "very",
    "i",
    "it",
    "loved",
    "hated",
    "plot",
]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
TEXTS = [
    "the movie was good",
    "bad",
    "i hated the plot , it was very awful",
    "great film",
    "not good not bad",
    "it is a movie",
    "loved it",
    "the the the the the the the the the the the the film",
    "awful",
    "zebra unknown words here",
]
TEXT_CLASSES = {0: "negative", 1: "neutral", 2: "positive"}


def tiny_tokenizer():
    return transformers.BertTokenizer(vocab={word: i for i, word in enumerate(VOCAB)})


def tiny_bert_config(**overrides):
    options = {
        "vocab_size": len(VOCAB),
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 32,
        "id2label": TEXT_CLASSES,
        # weights drawn wide, so that texts get clearly different probabilities
        "initializer_range": 0.5,
        **overrides,
    }
    return transformers.BertConfig(**options)


def tiny_text_classifier(seed=0, **overrides):
    torch.manual_seed(seed)
    return transformers.BertForSequenceClassification(tiny_bert_config(**overrides)).eval()


def softmax_rows(logits):
    return torch.softmax(logits.double(), dim=-1).numpy()


def direct_text_probabilities(model, tokenizer, texts):
    """One text at a time, no padding: the model's own forward pass."""
    rows = []
    for text in texts:
        inputs = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            rows.append(softmax_rows(model(**inputs).logits)[0])
    return np.array(rows)


def pipeline_probabilities(pipe, inputs, classes):
    """The pipeline's own scores, label strings mapped back to class indices."""
    index = {label: i for i, label in enumerate(classes)}
    out = np.zeros((len(inputs), len(classes)))
    for row, scores in enumerate(pipe(inputs, top_k=None)):
        for item in scores:
            out[row, index[item["label"]]] = item["score"]
    return out


@pytest.fixture(scope="module")
def text_pipeline():
    return transformers.pipeline(
        "text-classification", model=tiny_text_classifier(), tokenizer=tiny_tokenizer()
    )


# ------------------------------------------------------------------------------------- text


def test_text_probabilities_equal_the_models_forward_pass_and_the_pipelines_scores(
    text_pipeline,
):
    adapter = TransformersAdapter(text_pipeline)
    predictions = adapter.predict(TEXTS)
    assert adapter.classes == ("negative", "neutral", "positive")
    assert adapter.task == "classification"
    expected = direct_text_probabilities(text_pipeline.model, text_pipeline.tokenizer, TEXTS)
    np.testing.assert_allclose(predictions.scores, expected, atol=1e-6)
    np.testing.assert_allclose(
        predictions.scores, pipeline_probabilities(text_pipeline, TEXTS, adapter.classes), atol=1e-6
    )
    assert predictions.labels.tolist() == expected.argmax(axis=1).tolist()


def test_classes_follow_id2label_index_order_not_label_order():
    labels = {0: "zeta", 1: "alpha", 2: "mid", 3: "beta"}
    adapter = TransformersAdapter(tiny_text_classifier(id2label=labels), tiny_tokenizer())
    assert adapter.classes == ("zeta", "alpha", "mid", "beta")
    assert adapter.predict(TEXTS[:3]).scores.shape == (3, 4)


def test_text_outputs_do_not_depend_on_the_batch_size(text_pipeline):
    one = TransformersAdapter(text_pipeline, max_batch=1).predict(TEXTS)
    seven = TransformersAdapter(text_pipeline, max_batch=7).predict(TEXTS)
    np.testing.assert_allclose(one.scores, seven.scores, atol=1e-6)
    assert one.labels.tolist() == seven.labels.tolist()


def test_long_texts_are_truncated_to_the_models_positions(text_pipeline):
    adapter = TransformersAdapter(text_pipeline)
    assert adapter.max_length == 32  # the tokenizer made here has no limit of its own
    long_text = " ".join(["good"] * 200)
    scores = adapter.predict([long_text, "good"]).scores
    truncated = " ".join(["good"] * 30)  # 30 words + [CLS] + [SEP] = 32 tokens
    np.testing.assert_allclose(
        scores[0],
        direct_text_probabilities(text_pipeline.model, text_pipeline.tokenizer, [truncated])[0],
        atol=1e-6,
    )


def test_a_model_configured_for_regression_gives_its_output_as_the_value():
    model = tiny_text_classifier(num_labels=1, id2label=None, problem_type="regression")
    adapter = TransformersAdapter(model, tiny_tokenizer())
    assert adapter.task == "regression"
    assert adapter.classes is None
    expected = []
    for text in TEXTS[:4]:
        with torch.no_grad():
            expected.append(
                float(model(**tiny_tokenizer()(text, return_tensors="pt")).logits[0, 0])
            )
    np.testing.assert_allclose(adapter.predict(TEXTS[:4]).values, expected, atol=1e-6)


def test_a_multi_label_classifier_is_refused():
    model = tiny_text_classifier(problem_type="multi_label_classification")
    with pytest.raises(ModelError, match="multi-label"):
        TransformersAdapter(model, tiny_tokenizer())


# ----------------------------------------------------------------------------- fingerprints


def test_the_fingerprint_survives_save_and_reload_and_follows_every_weight(tmp_path):
    model, tokenizer = tiny_text_classifier(), tiny_tokenizer()
    adapter = TransformersAdapter(model, tokenizer)
    before = adapter.fingerprint()
    assert adapter.predict(TEXTS).labels is not None  # a call does not change it
    assert adapter.fingerprint() == before
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    assert TransformersAdapter.from_pretrained(tmp_path / "m").fingerprint() == before
    assert TransformersAdapter(str(tmp_path / "m")).fingerprint() == before
    with torch.no_grad():
        model.classifier.bias[1] += 1e-3
    assert adapter.fingerprint() != before


def test_the_fingerprint_follows_the_tokenizer_and_the_class_names():
    base = TransformersAdapter(tiny_text_classifier(), tiny_tokenizer()).fingerprint()
    swapped = VOCAB[:5] + list(reversed(WORDS))
    other_vocab = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(swapped)})
    assert TransformersAdapter(tiny_text_classifier(), other_vocab).fingerprint() != base
    renamed = tiny_text_classifier(id2label={0: "neg", 1: "neu", 2: "pos"})
    assert TransformersAdapter(renamed, tiny_tokenizer()).fingerprint() != base


# ------------------------------------------------------------------------------------ images


@pytest.fixture(scope="module")
def image_pipeline():
    config = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "cat", 1: "dog", 2: "bird"},
        initializer_range=0.5,
    )
    torch.manual_seed(1)
    model = transformers.ViTForImageClassification(config).eval()
    processor = transformers.ViTImageProcessorPil(size={"height": 16, "width": 16})
    return transformers.pipeline("image-classification", model=model, image_processor=processor)


def test_image_probabilities_equal_the_pipelines_for_uint8_and_float_batches(image_pipeline):
    from PIL import Image

    x = np.random.default_rng(0).integers(0, 256, size=(9, 20, 24, 3), dtype=np.uint8)
    images = [Image.fromarray(sample) for sample in x]
    adapter = as_model(image_pipeline)
    assert isinstance(adapter, TransformersAdapter)
    assert adapter.classes == ("cat", "dog", "bird")
    scores = adapter.predict(x).scores
    expected = pipeline_probabilities(image_pipeline, images, adapter.classes)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    inputs = image_pipeline.image_processor(images=images[:1], return_tensors="pt")
    with torch.no_grad():
        direct = softmax_rows(image_pipeline.model(**inputs).logits)
    np.testing.assert_allclose(scores[:1], direct, atol=1e-6)
    # float32 [0, 1] images are the same pictures
    np.testing.assert_allclose(
        adapter.predict(x.astype(np.float32) / 255).scores, scores, atol=1e-6
    )
    # one image at a time gives the same
    single = TransformersAdapter(image_pipeline, max_batch=1).predict(x).scores
    np.testing.assert_allclose(single, scores, atol=1e-6)


def test_grayscale_images_are_given_to_a_colour_model_as_rgb(image_pipeline):
    gray = np.random.default_rng(1).integers(0, 256, size=(3, 16, 16), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=3)
    adapter = TransformersAdapter(image_pipeline)
    np.testing.assert_allclose(adapter.predict(gray).scores, adapter.predict(rgb).scores, atol=1e-6)


def test_a_saved_image_classifier_loads_with_its_task_read_from_the_folder(
    image_pipeline, tmp_path
):
    image_pipeline.save_pretrained(tmp_path / "vit")
    x = np.random.default_rng(2).integers(0, 256, size=(4, 16, 16, 3), dtype=np.uint8)
    original = TransformersAdapter(image_pipeline)
    loaded = TransformersAdapter.from_pretrained(tmp_path / "vit")
    assert loaded.modality == "image"
    assert loaded.fingerprint() == original.fingerprint()
    np.testing.assert_allclose(loaded.predict(x).scores, original.predict(x).scores, atol=1e-6)


# ------------------------------------------------------------------------------------- audio


@pytest.fixture(scope="module")
def audio_pipeline():
    config = transformers.Wav2Vec2Config(
        vocab_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=8,
        id2label={0: "yes", 1: "no", 2: "up", 3: "down"},
        initializer_range=0.5,
    )
    torch.manual_seed(2)
    model = transformers.Wav2Vec2ForSequenceClassification(config).eval()
    extractor = transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=8000, do_normalize=True, return_attention_mask=True
    )
    return transformers.pipeline("audio-classification", model=model, feature_extractor=extractor)


def audio_batch(n=6, samples=800):
    t = np.arange(samples) / 8000
    rng = np.random.default_rng(3)
    tones = np.sin(2 * np.pi * rng.uniform(100, 1000, size=(n, 1)) * t)
    return (0.5 * tones + 0.05 * rng.standard_normal((n, samples))).astype(np.float32)


def test_audio_probabilities_equal_the_pipelines_and_the_models_forward_pass(audio_pipeline):
    x = audio_batch()
    adapter = TransformersAdapter(audio_pipeline, sample_rate_hz=8000)
    assert adapter.classes == ("yes", "no", "up", "down")
    assert adapter.sample_rate_hz == 8000
    scores = adapter.predict(x).scores
    expected = pipeline_probabilities(audio_pipeline, list(x), adapter.classes)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    extractor = audio_pipeline.feature_extractor
    inputs = extractor(x[0], sampling_rate=8000, return_tensors="pt")
    with torch.no_grad():
        direct = softmax_rows(audio_pipeline.model(**inputs).logits)
    np.testing.assert_allclose(scores[:1], direct, atol=1e-6)
    single = TransformersAdapter(audio_pipeline, max_batch=1).predict(x).scores
    np.testing.assert_allclose(single, scores, atol=1e-6)


def test_a_saved_audio_classifier_loads_with_its_task_read_from_the_folder(
    audio_pipeline, tmp_path
):
    audio_pipeline.save_pretrained(tmp_path / "wav2vec2")
    original = TransformersAdapter(audio_pipeline)
    loaded = TransformersAdapter.from_pretrained(tmp_path / "wav2vec2")
    assert loaded.modality == "audio"
    assert loaded.fingerprint() == original.fingerprint()
    x = audio_batch(n=3)
    np.testing.assert_allclose(loaded.predict(x).scores, original.predict(x).scores, atol=1e-6)
    with pytest.raises(ModelError, match=r"cannot load a text-classification model from"):
        TransformersAdapter.from_pretrained(tmp_path / "wav2vec2", pipeline="text-classification")


def test_audio_at_another_sample_rate_is_refused(audio_pipeline, tmp_path):
    with pytest.raises(ModelError, match=r"16000 samples per second.*resample the data to 8000"):
        TransformersAdapter(audio_pipeline, sample_rate_hz=16000)
    model = TransformersAdapter(audio_pipeline)
    data = ArrayDataset(audio_batch(), labels=[0] * 6, modality="audio", sample_rate_hz=16000)
    plan = {"name": "rate", "perturbations": [{"name": "audio.gain", "levels": [1]}]}
    with pytest.raises(DataError, match=r"resample the data to 8000 Hz"):
        wince.run(model, data, plan, store=str(tmp_path))


# --------------------------------------------------------------------- sentence-transformers


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encoder")
    torch.manual_seed(4)
    transformers.BertModel(tiny_bert_config()).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    word = st_modules.Transformer(str(folder), max_seq_length=32)
    pooling = st_modules.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    return sentence_transformers.SentenceTransformer(modules=[word, pooling], device="cpu")


@pytest.fixture(scope="module")
def head(encoder):
    from sklearn.linear_model import LogisticRegression

    labels = ["pos", "neg", "neg", "pos", "neu", "neu", "pos", "neu", "neg", "neu"]
    return LogisticRegression(max_iter=500).fit(encoder.encode(TEXTS), labels)


def mean_pooled(encoder_folder_model, tokenizer, text):
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder_folder_model(**inputs).last_hidden_state[0]
    return hidden.mean(dim=0).numpy()


def test_sentence_transformer_predictions_are_the_heads_on_mean_pooled_token_states(encoder, head):
    adapter = SentenceTransformerAdapter(encoder, head)
    assert adapter.classes == tuple(head.classes_)
    bert = encoder[0].model  # the BertModel inside, run here one text at a time
    embeddings = np.array([mean_pooled(bert, encoder.tokenizer, t) for t in TEXTS])
    expected = head.predict_proba(embeddings)
    predictions = adapter.predict(TEXTS)
    np.testing.assert_allclose(predictions.scores, expected, atol=1e-5)
    one = SentenceTransformerAdapter(encoder, head, max_batch=1).predict(TEXTS)
    np.testing.assert_allclose(one.scores, predictions.scores, atol=1e-6)


def test_sentence_transformer_fingerprint_follows_the_encoder_and_the_head(encoder, head, tmp_path):
    from sklearn.base import clone

    adapter = SentenceTransformerAdapter(encoder, head)
    before = adapter.fingerprint()
    encoder.save(str(tmp_path / "st"))
    assert SentenceTransformerAdapter(str(tmp_path / "st"), head).fingerprint() == before
    other_head = (
        clone(head)
        .set_params(C=0.1)
        .fit(encoder.encode(TEXTS), head.predict(encoder.encode(TEXTS)))
    )
    assert SentenceTransformerAdapter(encoder, other_head).fingerprint() != before
    normalised = SentenceTransformerAdapter(encoder, head, normalize_embeddings=True)
    assert normalised.fingerprint() != before


def test_encoder_failures_become_model_errors_naming_the_adapter(encoder, head, monkeypatch):
    adapter = SentenceTransformerAdapter(encoder, head, max_batch=4)

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: device-side assert")

    monkeypatch.setattr(adapter.encoder, "encode", broken)
    with pytest.raises(
        ModelError,
        match=r"sentence-transformers encoder \+ scikit-learn LogisticRegression failed on "
        r"samples 0-3 .*device-side assert",
    ):
        adapter.predict(TEXTS)


def test_a_sentence_transformer_without_a_head_is_refused(encoder):
    with pytest.raises(ModelError, match=r"SentenceTransformerAdapter\(encoder, head\)"):
        as_model(encoder)


# ------------------------------------------------------------------- as_model, errors, names


def test_a_transformers_model_without_its_preprocessor_is_refused_by_as_model():
    with pytest.raises(ModelError, match="needs its preprocessor"):
        as_model(tiny_text_classifier())


def test_a_pipeline_runs_on_the_device_given_and_refuses_output_meanings(text_pipeline):
    assert str(as_model(text_pipeline, device="cpu").device) == "cpu"
    with pytest.raises(ModelError, match="gives class probabilities"):
        as_model(text_pipeline, output="logits")
    with pytest.raises(ModelError, match=r"device 'cuda:99'.*use device='cpu'"):
        TransformersAdapter(tiny_text_classifier(), tiny_tokenizer(), device="cuda:99")


def test_a_hub_name_is_never_downloaded():
    with pytest.raises(ModelError, match=r"no local folder 'distilbert-base-uncased'.*never"):
        TransformersAdapter("distilbert-base-uncased")
    with pytest.raises(ModelError, match=r"no local folder 'all-MiniLM-L6-v2'.*never downloads"):
        SentenceTransformerAdapter("all-MiniLM-L6-v2", head=None)


def test_unsupported_pipelines_and_preprocessors_are_refused(text_pipeline):
    fill = transformers.pipeline(
        "feature-extraction", model=text_pipeline.model, tokenizer=text_pipeline.tokenizer
    )
    with pytest.raises(ModelError, match="'feature-extraction' pipeline"):
        TransformersAdapter(fill)
    with pytest.raises(ModelError, match="needs its preprocessor"):
        TransformersAdapter(tiny_text_classifier(), None)
    with pytest.raises(ParameterError, match="max_batch must be a positive integer"):
        TransformersAdapter(text_pipeline, max_batch=0)
    with pytest.raises(ParameterError, match="sample_rate_hz applies to audio"):
        TransformersAdapter(text_pipeline, sample_rate_hz=16000)


def test_backend_failures_become_model_errors_naming_the_adapter_and_samples(
    text_pipeline, monkeypatch
):
    adapter = TransformersAdapter(text_pipeline, max_batch=4)
    with pytest.raises(ModelError, match=r"transformers BertForSequenceClassification.*str"):
        adapter.predict([1, 2])

    def broken(**inputs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(adapter, "model", broken)
    with pytest.raises(
        ModelError,
        match=r"transformers BertForSequenceClassification failed on samples 0-3.*out of memory",
    ):
        adapter.predict(TEXTS)


def test_missing_transformers_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ModelError, match=r"pip install 'wince\[huggingface\]'"):
        TransformersAdapter(object())


# ------------------------------------------------------------------------------ plans, runs


@pytest.fixture
def saved_text_model(tmp_path):
    folder = tmp_path / "sentiment"
    tiny_text_classifier().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def test_a_plan_loads_a_save_pretrained_folder(saved_text_model, text_pipeline):
    plan = {
        "name": "hf-plan",
        "model": {
            "transformers": str(saved_text_model),
            "pipeline": "text-classification",
            "device": "cpu",
            "max_batch": 3,
        },
        "perturbations": [{"name": "text.typos", "levels": [1]}],
    }
    adapter = load_model(as_plan(plan).model)
    assert isinstance(adapter, TransformersAdapter)
    assert adapter.max_batch == 3
    assert adapter.classes == ("negative", "neutral", "positive")
    reference = TransformersAdapter(text_pipeline).predict(TEXTS)  # same seed, same weights
    np.testing.assert_allclose(adapter.predict(TEXTS).scores, reference.scores, atol=1e-6)
    del plan["model"]["pipeline"]  # read from the tokenizer the folder holds
    assert load_model(as_plan(plan).model).modality == "text"


def test_plan_fields_for_transformers_are_checked(tmp_path):
    base = {"name": "p", "perturbations": [{"name": "text.typos", "levels": [1]}]}
    with pytest.raises(PlanError, match=r"model\.pipeline: applies to a model\.transformers"):
        as_plan({**base, "model": {"factory": "m:f", "pipeline": "text-classification"}})
    with pytest.raises(PlanError, match=r"model\.output: a transformers classifier"):
        as_plan({**base, "model": {"transformers": "x", "output": "logits"}})
    with pytest.raises(PlanError, match=r"model\.pipeline"):
        as_plan({**base, "model": {"transformers": "x", "pipeline": "translation"}})
    with pytest.raises(PlanError, match=r"model\.task: .*give it as model\.pipeline"):
        as_plan({**base, "model": {"transformers": "x", "task": "text-classification"}})
    spec = as_plan({**base, "model": {"transformers": str(tmp_path / "bert-base-uncased")}}).model
    with pytest.raises(PlanError, match=r"model\.transformers: no folder at .*never downloads"):
        load_model(spec)


def test_a_pipeline_runs_end_to_end_under_a_text_perturbation(text_pipeline, tmp_path):
    labels = ["positive", "negative", "negative", "positive", "neutral"] * 2
    plan = {
        "name": "hf-text",
        "perturbations": [{"name": "text.typos", "levels": [1, 5]}],
        "repeats": 2,
        "seed": 0,
        "analysis": {"bootstrap": 100},
    }
    run = wince.run(text_pipeline, (TEXTS, labels), plan, store=str(tmp_path / "store"))
    summary = run.summary()
    flips = summary.query("metric == 'flip_rate' and kind == 'isolation'")
    assert len(flips) == 2
    assert ((flips["value"] >= 0) & (flips["value"] <= 1)).all()
    # the stored baseline is the adapter's prediction on the clean texts
    adapter = TransformersAdapter(text_pipeline)
    expected = np.mean(np.array(adapter.classes)[adapter.predict(TEXTS).labels] == np.array(labels))
    accuracy = summary.query("scenario == 'baseline' and metric == 'accuracy'")["value"]
    assert float(accuracy.iloc[0]) == pytest.approx(expected)


def test_a_plan_files_transformers_folder_is_found_beside_the_plan(saved_text_model, tmp_path):
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(
        "name: beside\n"
        f"model:\n  transformers: {saved_text_model.name}\n  device: cpu\n"
        "perturbations:\n  - {name: text.casing, levels: [5], params: {style: upper}}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(elsewhere)
        adapter = load_model(as_plan(plan_file).model)
    assert adapter.classes == ("negative", "neutral", "positive")
    # the tokenizer lowercases: upper-case text is the same input
    scores = adapter.predict(["THE MOVIE WAS GOOD", "the movie was good"]).scores
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-6)
