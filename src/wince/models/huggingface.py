"""Hugging Face models: `transformers` classifiers and sentence-transformers encoders.

`TransformersAdapter` runs a text, image or audio classifier of the `transformers` library (a
pipeline, or a model with its tokenizer, image processor or feature extractor);
`SentenceTransformerAdapter` runs a sentence-transformers encoder followed by a fitted
scikit-learn head on its embeddings. Both import their library only when used (the
`huggingface` extra) and never download anything: a model is an object in memory or a folder
on disk (written by `save_pretrained` or `SentenceTransformer.save`).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wince.errors import ModelError, ParameterError
from wince.models.base import Predictions, Task, hash_bytes, predict_in_chunks, softmax

#: The `transformers` pipeline tasks wince can run, by the modality of their inputs.
PIPELINE_MODALITIES = {
    "text-classification": "text",
    "image-classification": "image",
    "audio-classification": "audio",
}
# sentiment-analysis is the text-classification pipeline under its older name
_PIPELINE_ALIASES = {"sentiment-analysis": "text-classification"}
_AUTO_MODELS = {
    "text": "AutoModelForSequenceClassification",
    "image": "AutoModelForImageClassification",
    "audio": "AutoModelForAudioClassification",
}
_EXTRA = "Hugging Face models need: pip install 'wince[huggingface]'"
# Config keys that say where a model came from, not what it computes: a model saved with
# save_pretrained and loaded again has other values there, and the same outputs. The weights'
# dtypes are hashed with the weights.
_CONFIG_PROVENANCE = frozenset(
    {"_name_or_path", "architectures", "transformers_version", "dtype", "torch_dtype"}
)
# The fast tokenizer's state of its last call, not its definition.
_TOKENIZER_CALL_STATE = frozenset({"truncation", "padding"})


def import_transformers() -> Any:
    """The transformers module.

    Raises:
        ModelError: transformers (or torch) is not installed.
    """
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise ModelError(_EXTRA) from None


def import_sentence_transformers() -> Any:
    """The sentence_transformers module.

    Raises:
        ModelError: sentence-transformers is not installed.
    """
    try:
        return importlib.import_module("sentence_transformers")
    except ImportError:
        raise ModelError(_EXTRA) from None


def _loaded_class(module: str, name: str) -> type | None:
    """A class of an already imported module, without importing anything."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return cls if isinstance(cls, type) else None


def is_transformers_pipeline(obj: Any) -> bool:
    """Whether `obj` is a `transformers` Pipeline (never imports transformers)."""
    cls = _loaded_class("transformers.pipelines.base", "Pipeline")
    return cls is not None and isinstance(obj, cls)


def is_transformers_model(obj: Any) -> bool:
    """Whether `obj` is a `transformers` PreTrainedModel (never imports transformers)."""
    cls = _loaded_class("transformers.modeling_utils", "PreTrainedModel")
    return cls is not None and isinstance(obj, cls)


def is_sentence_transformer(obj: Any) -> bool:
    """Whether `obj` is a sentence-transformers `SentenceTransformer` (never imports it)."""
    package = sys.modules.get("sentence_transformers")
    cls = vars(package).get("SentenceTransformer") if package is not None else None
    return isinstance(cls, type) and isinstance(obj, cls)


def _local_folder(name: str | Path, what: str) -> Path:
    """The folder a model name points to; wince never downloads.

    Raises:
        ModelError: there is no such folder.
    """
    path = Path(name)
    if not path.is_dir():
        raise ModelError(
            f"{what}: no local folder {str(name)!r}; wince never downloads models. Download "
            f"it yourself (e.g. `hf download {name} --local-dir ./model`) or save a model with "
            "save_pretrained(folder), and pass that folder."
        )
    return path


def _json_digest_part(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, default=str).encode()


def _module_state(module: Any) -> list[bytes]:
    """The names, dtypes, shapes and bytes of a torch module's state, in state_dict order."""
    torch = importlib.import_module("torch")
    parts = []
    for name, tensor in module.state_dict().items():
        data = tensor.detach().cpu().contiguous().reshape(-1)
        parts.append(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        parts.append(data.view(torch.uint8).numpy().tobytes())
    return parts


def tokenizer_identity(tokenizer: Any) -> bytes:
    """What a tokenizer computes: its class, its fast definition or sorted vocabulary.

    A fast tokenizer's definition (normaliser, pre-tokeniser, vocabulary, special tokens) is
    its JSON, with the padding and truncation of its last call left out.
    """
    parts: dict[str, Any] = {"class": type(tokenizer).__qualname__}
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        parts["backend"] = {k: v for k, v in definition.items() if k not in _TOKENIZER_CALL_STATE}
    else:
        parts["vocab"] = sorted(tokenizer.get_vocab().items())
    parts["special"] = tokenizer.special_tokens_map
    return _json_digest_part(parts)


def _modality_of(preprocessor: Any, transformers: Any) -> str | None:
    if isinstance(preprocessor, transformers.PreTrainedTokenizerBase):
        return "text"
    if isinstance(preprocessor, transformers.BaseImageProcessor):
        return "image"
    if isinstance(preprocessor, transformers.SequenceFeatureExtractor):
        return "audio"
    return None


def _to_images(x: Any, channels: int) -> list[Any]:
    """PIL images from an image batch: uint8 [0, 255] or float [0, 1], (n, h, w[, c]).

    Float values are rounded to 8 bits, as an image file would store them: the image
    processors resize through PIL, which does the same.
    """
    from PIL import Image

    array = np.asarray(x)
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[3] not in (1, 3, 4)):
        raise ModelError(
            f"image batches have shape (n, height, width[, channels]); got {array.shape}."
        )
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    images = [Image.fromarray(sample) for sample in array]
    mode = "RGB" if channels == 3 else "L" if channels == 1 else None
    return [im.convert(mode) if mode and im.mode != mode else im for im in images]


def _check_positive_integers(**values: int | None) -> None:
    """Raise a `ParameterError` naming the first given value that is not a positive integer."""
    for name, value in values.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ParameterError(
                f"TransformersAdapter: {name} must be a positive integer; got {value!r}."
            )


def _model_and_preprocessor(
    model: Any, preprocessor: Any, transformers: Any
) -> tuple[Any, Any, str]:
    """The `PreTrainedModel`, its preprocessor and its modality from what the adapter was given.

    A folder is loaded, a pipeline is unpacked into its model and preprocessor; the
    preprocessor must match the modality ("text", "image" or "audio").
    """
    if isinstance(model, str | Path):
        if preprocessor is not None:
            raise ModelError(
                "TransformersAdapter: a save_pretrained folder brings its own "
                "preprocessor; pass the folder alone."
            )
        model, preprocessor = _load_folder(
            _local_folder(model, "TransformersAdapter"), None, transformers
        )
    if isinstance(model, transformers.Pipeline):
        task = _PIPELINE_ALIASES.get(model.task, model.task)
        if task not in PIPELINE_MODALITIES:
            raise ModelError(
                f"TransformersAdapter: a {model.task!r} pipeline does not classify whole "
                f"inputs; wince runs {', '.join(map(repr, PIPELINE_MODALITIES))} pipelines."
            )
        if preprocessor is not None:
            raise ModelError(
                "TransformersAdapter: a pipeline brings its own preprocessor; pass the "
                "pipeline alone, or its model with another preprocessor."
            )
        modality = PIPELINE_MODALITIES[task]
        attribute = {
            "text": "tokenizer",
            "image": "image_processor",
            "audio": "feature_extractor",
        }
        preprocessor = getattr(model, attribute[modality], None)
        model = model.model
    elif not isinstance(model, transformers.PreTrainedModel):
        raise ModelError(
            "TransformersAdapter needs a transformers pipeline, a PreTrainedModel with its "
            f"preprocessor, or a save_pretrained folder; got a {type(model).__name__}."
        )
    else:
        found = _modality_of(preprocessor, transformers)
        if found is None:
            raise ModelError(
                f"TransformersAdapter: {type(model).__name__} needs its preprocessor: a "
                "tokenizer (text), an image processor (images) or a feature extractor "
                f"(audio); got {type(preprocessor).__name__}."
            )
        modality = found
    if _modality_of(preprocessor, transformers) != modality:
        raise ModelError(
            f"TransformersAdapter: the {modality} pipeline has no "
            f"{'tokenizer' if modality == 'text' else 'preprocessor'} for its inputs."
        )
    return model, preprocessor, modality


def _task_and_classes(config: Any, label: str) -> tuple[Task, tuple[Any, ...] | None]:
    """The task a model's config sets up and, for a classifier, its classes in output order."""
    problem = getattr(config, "problem_type", None)
    if problem == "multi_label_classification":
        raise ModelError(
            f"{label}: a multi-label classifier gives one independent probability "
            "per label; wince analyses single-label classifiers and regressors."
        )
    if problem == "regression" or config.num_labels == 1:
        return Task.REGRESSION, None
    id2label = {int(k): v for k, v in config.id2label.items()}
    if sorted(id2label) != list(range(config.num_labels)):
        raise ModelError(
            f"{label}: config.id2label must name classes 0..{config.num_labels - 1}"
            f"; got keys {sorted(id2label)}."
        )
    return Task.CLASSIFICATION, tuple(id2label[i] for i in range(config.num_labels))


def _text_max_length(max_length: int | None, tokenizer: Any, config: Any) -> int | None:
    """Tokens per text: `max_length`, else the smallest of the tokenizer's and model's limits.

    A limit of 10**9 or more is the tokenizer's "no limit"; None when none is known.
    """
    limits = [
        n
        for n in (
            max_length,
            tokenizer.model_max_length,
            getattr(config, "max_position_embeddings", None),
        )
        if isinstance(n, int) and n < 10**9
    ]
    return max_length or (min(limits) if limits else None)


def _audio_sample_rate(
    sample_rate_hz: int | None, preprocessor: Any, modality: str, label: str
) -> int | None:
    """The feature extractor's samples per second for an audio model (None otherwise).

    The data's rate, when given, must equal it; other modalities take no rate.
    """
    if modality == "audio":
        expected = int(preprocessor.sampling_rate)
        if sample_rate_hz is not None and sample_rate_hz != expected:
            raise ModelError(
                f"{label}: the data has {sample_rate_hz} samples per second but the "
                f"model was trained at {expected} Hz; resample the data to {expected} Hz."
            )
        return expected
    if sample_rate_hz is not None:
        raise ParameterError(
            f"{label}: sample_rate_hz applies to audio models; this one takes "
            f"{modality}. Remove it."
        )
    return None


class TransformersAdapter:
    """A `transformers` text, image or audio classifier (or regressor) run on wince batches.

    Takes a pipeline (`pipeline("text-classification", ...)`, "image-classification" or
    "audio-classification"), or a model with its tokenizer (text), image processor (images)
    or feature extractor (audio). Its components are run directly, a chunk of at most
    `max_batch` samples at a time: text is tokenised with padding to the longest sample and
    truncation to `max_length` tokens, images are converted to PIL images for the image
    processor, audio is passed to the feature extractor at `sample_rate_hz`. Every class's
    probability comes back, in the model's class order (`config.id2label`), softmaxed from the
    logits as the pipeline does for single-label models; a model configured for regression
    (`problem_type="regression"`, or one label) gives its one output as the value.

    Args:
        model: a pipeline, a `PreTrainedModel`, or the folder of one saved with
            `save_pretrained` (model and preprocessor; nothing is downloaded).
        preprocessor: the tokenizer, image processor or feature extractor, when `model` is a
            model; a pipeline brings its own.
        device: torch device the model runs on, e.g. "cpu" or "cuda:0"; default: where the
            pipeline or model already is. The model is moved there.
        max_batch: largest number of samples run at once (memory grows with it, and with
            the longest text of a chunk).
        max_length: tokens per text (longer texts are truncated; special tokens count);
            default: the tokenizer's `model_max_length`, at most the model's
            `max_position_embeddings`.
        sample_rate_hz: audio samples per second of the data; must be the feature
            extractor's `sampling_rate` (default), since the model was trained at that rate.

    Raises:
        ModelError: transformers is missing, the folder does not exist, the pipeline's task
            or the model's problem type is not supported, the preprocessor is missing or of
            the wrong kind, the sample rate differs from the model's, or the device is not
            available.
        ParameterError: `max_batch`, `max_length` or `sample_rate_hz` is not a positive
            integer.

    Examples:
        >>> import torch
        >>> from transformers import BertConfig, BertForSequenceClassification, BertTokenizer
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"]
        >>> tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)})
        >>> config = BertConfig(vocab_size=7, hidden_size=8, num_hidden_layers=1,
        ...     num_attention_heads=2, intermediate_size=16, id2label={0: "neg", 1: "pos"})
        >>> _ = torch.manual_seed(0)
        >>> model = TransformersAdapter(BertForSequenceClassification(config), tokenizer)
        >>> model.classes
        ('neg', 'pos')
        >>> model.predict(["good", "bad good"]).scores.shape
        (2, 2)
    """

    trainable = True  # fine-tunes on augmented data (reports advise it)

    def __init__(
        self,
        model: Any,
        preprocessor: Any = None,
        *,
        device: str | None = None,
        max_batch: int = 32,
        max_length: int | None = None,
        sample_rate_hz: int | None = None,
    ) -> None:
        transformers = import_transformers()
        _check_positive_integers(
            max_batch=max_batch, max_length=max_length, sample_rate_hz=sample_rate_hz
        )
        model, preprocessor, self.modality = _model_and_preprocessor(
            model, preprocessor, transformers
        )
        self.model = model
        self.preprocessor = preprocessor
        self.label = f"transformers {type(model).__name__}"
        config = model.config
        self.task, self.classes = _task_and_classes(config, self.label)
        self.max_batch = max_batch
        self.max_length = (
            _text_max_length(max_length, preprocessor, config) if self.modality == "text" else None
        )
        self.sample_rate_hz = _audio_sample_rate(
            sample_rate_hz, preprocessor, self.modality, self.label
        )
        torch = importlib.import_module("torch")
        try:
            self.device = torch.device(device) if device is not None else model.device
            self.model = model.to(self.device).eval()
        except (RuntimeError, AssertionError) as error:
            raise ModelError(
                f"{self.label}: cannot run the model on device {device!r} ({error}); use "
                "device='cpu' or a device this machine has."
            ) from error

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        *,
        pipeline: str | None = None,
        device: str | None = None,
        max_batch: int = 32,
        max_length: int | None = None,
        sample_rate_hz: int | None = None,
    ) -> TransformersAdapter:
        """Load a classifier saved with `save_pretrained` from a local folder.

        Args:
            folder: holds the model (`config.json`, weights) and its tokenizer, image
                processor or feature extractor. Nothing is downloaded.
            pipeline: "text-classification", "image-classification" or
                "audio-classification"; default: read from the preprocessor the folder holds.
            device: torch device, e.g. "cpu" or "cuda:0" (default "cpu").
            max_batch: largest number of samples run at once.
            max_length: tokens per text (see `TransformersAdapter`).
            sample_rate_hz: audio samples per second of the data (see `TransformersAdapter`).

        Raises:
            ModelError: no such folder, or it does not hold a model of that kind.
        """
        transformers = import_transformers()
        model, preprocessor = _load_folder(
            _local_folder(folder, "TransformersAdapter"), pipeline, transformers
        )
        return cls(
            model,
            preprocessor,
            device=device,
            max_batch=max_batch,
            max_length=max_length,
            sample_rate_hz=sample_rate_hz,
        )

    def _inputs(self, x: Any) -> Any:
        if self.modality == "text":
            texts = list(x)
            wrong = next((t for t in texts if not isinstance(t, str)), None)
            if wrong is not None:
                raise ModelError(f"{self.label} takes text (str); got a {type(wrong).__name__}.")
            return self.preprocessor(
                texts,
                padding=True,
                truncation=self.max_length is not None,
                max_length=self.max_length,
                return_tensors="pt",
            )
        if self.modality == "image":
            channels = int(getattr(self.model.config, "num_channels", 3))
            return self.preprocessor(images=_to_images(x, channels), return_tensors="pt")
        array = np.asarray(x, dtype=np.float32)
        if array.ndim != 2:
            raise ModelError(f"audio batches have shape (n, samples); got {array.shape}.")
        return self.preprocessor(
            list(array),
            sampling_rate=self.sample_rate_hz,
            padding=True,
            return_tensors="pt",
        )

    def _predict_chunk(self, x: Any) -> Predictions:
        torch = importlib.import_module("torch")
        inputs = self._inputs(x).to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        array = logits.detach().cpu().double().numpy()
        if self.task == Task.REGRESSION:
            return Predictions.from_values(array[:, 0])
        return Predictions.from_probabilities(softmax(array))

    def predict(self, x: Any) -> Predictions:
        """Predict a batch: a list of str, images (n, h, w[, c]) or audio (n, samples)."""
        return predict_in_chunks(self._predict_chunk, x, self.max_batch, self.label)

    def fingerprint(self) -> str:
        """Hash of the model's class, configuration and weights, and of its preprocessor.

        The configuration leaves out where the model came from (name or path, library
        version), so a model saved and loaded again keeps its fingerprint.
        """
        config = {
            k: v for k, v in self.model.config.to_dict().items() if k not in _CONFIG_PROVENANCE
        }
        if self.modality == "text":
            preprocessor = tokenizer_identity(self.preprocessor)
        else:
            settings = self.preprocessor.to_dict()
            settings.pop("processor_class", None)
            preprocessor = _json_digest_part(settings)
        return hash_bytes(
            f"transformers:{type(self.model).__qualname__}:{self.modality}\n".encode(),
            _json_digest_part(config),
            preprocessor,
            f"max_length={self.max_length}|sample_rate_hz={self.sample_rate_hz}".encode(),
            *_module_state(self.model),
        )

    def runtime_packages(self) -> tuple[str, ...]:
        """The packages whose versions shape the outputs."""
        return ("tokenizers", "torch", "transformers")

    def close(self) -> None:
        """Nothing to release (the model stays usable)."""


def _load_folder(folder: Path, pipeline: str | None, transformers: Any) -> tuple[Any, Any]:
    """The model and preprocessor saved in a folder, for a pipeline task (or inferred).

    Raises:
        ModelError: unknown task, or the folder does not hold that kind of model.
    """
    if pipeline is None:
        pipeline = _infer_pipeline(folder)
    task = _PIPELINE_ALIASES.get(pipeline, pipeline)
    if task not in PIPELINE_MODALITIES:
        raise ModelError(
            f"pipeline must be one of {', '.join(map(repr, PIPELINE_MODALITIES))}; "
            f"got {pipeline!r}."
        )
    modality = PIPELINE_MODALITIES[task]
    preprocessor_class = {
        "text": "AutoTokenizer",
        "image": "AutoImageProcessor",
        "audio": "AutoFeatureExtractor",
    }[modality]
    try:
        model = getattr(transformers, _AUTO_MODELS[modality]).from_pretrained(
            folder, local_files_only=True
        )
        preprocessor = getattr(transformers, preprocessor_class).from_pretrained(
            folder, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        raise ModelError(
            f"cannot load a {task} model from {folder} ({type(error).__name__}: {reason}); "
            "the folder must hold a model and its preprocessor saved with save_pretrained."
        ) from error
    return model, preprocessor


def _infer_pipeline(folder: Path) -> str:
    """The pipeline task of a saved folder, from the preprocessor it holds."""
    settings = folder / "preprocessor_config.json"
    if settings.is_file():
        try:
            saved = json.loads(settings.read_text())
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot read {settings}: {error}") from error
        if "image_processor_type" in saved:
            return "image-classification"
        if "feature_extractor_type" in saved:
            return "audio-classification"
    if (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file():
        return "text-classification"
    raise ModelError(
        f"{folder} holds no tokenizer, image processor or feature extractor; save the model's "
        "preprocessor with save_pretrained(folder) too, or name the pipeline task."
    )


class SentenceTransformerAdapter:
    """A sentence-transformers encoder and a fitted scikit-learn head on its embeddings.

    Each chunk of texts is encoded (`SentenceTransformer.encode`, one embedding per text) and
    the head predicts from the embeddings: class probabilities from `predict_proba` (classes
    from `head.classes_`), as `SklearnAdapter` reads any estimator, or values for a regressor.

    Args:
        encoder: a `SentenceTransformer`, or the folder of one saved with `save` (nothing is
            downloaded).
        head: a scikit-learn estimator fitted on the encoder's embeddings, e.g.
            `LogisticRegression().fit(encoder.encode(texts), labels)`.
        device: torch device the encoder runs on, e.g. "cpu" or "cuda:0"; default: where it
            already is. The encoder is moved there.
        max_batch: largest number of texts encoded at once.
        normalize_embeddings: scale each embedding to unit length before the head, as it
            was when the head was fitted.

    Raises:
        ModelError: sentence-transformers is missing, the encoder is not one, no such folder,
            the head is not fitted, or the device is not available.
        ParameterError: `max_batch` is not a positive integer.
    """

    trainable = True  # its head refits on augmented data (reports advise it)

    def __init__(
        self,
        encoder: Any,
        head: Any,
        *,
        device: str | None = None,
        max_batch: int = 32,
        normalize_embeddings: bool = False,
    ) -> None:
        from wince.models.sklearn import SklearnAdapter

        sentence_transformers = import_sentence_transformers()
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ParameterError(
                "SentenceTransformerAdapter: max_batch must be a positive number of texts; "
                f"got {max_batch!r}."
            )
        if isinstance(encoder, str | Path):
            folder = _local_folder(encoder, "SentenceTransformerAdapter")
            try:
                encoder = sentence_transformers.SentenceTransformer(
                    str(folder), device=device or "cpu", local_files_only=True
                )
            except (OSError, ValueError, KeyError) as error:
                raise ModelError(
                    f"SentenceTransformerAdapter: cannot load an encoder from {folder} "
                    f"({type(error).__name__}: {error}); save one with encoder.save(folder)."
                ) from error
        if not isinstance(encoder, sentence_transformers.SentenceTransformer):
            raise ModelError(
                "SentenceTransformerAdapter needs a sentence_transformers.SentenceTransformer "
                f"(or the folder of a saved one); got a {type(encoder).__name__}."
            )
        if not (hasattr(head, "predict") and hasattr(head, "fit")):
            raise ModelError(
                "SentenceTransformerAdapter: the head must be a fitted scikit-learn estimator "
                f"(predict on embeddings); got a {type(head).__name__}."
            )
        self.head = SklearnAdapter(head)
        self.task = self.head.task
        self.classes = self.head.classes
        self.max_batch = max_batch
        self.normalize_embeddings = normalize_embeddings
        self.label = f"sentence-transformers encoder + scikit-learn {type(head).__name__}"
        torch = importlib.import_module("torch")
        try:
            self.device = torch.device(device) if device is not None else encoder.device
            self.encoder = encoder.to(self.device).eval()
        except (RuntimeError, AssertionError) as error:
            raise ModelError(
                f"{self.label}: cannot run the encoder on device {device!r} ({error}); use "
                "device='cpu' or a device this machine has."
            ) from error

    def embed(self, x: Sequence[str]) -> Any:
        """The encoder's embeddings of a list of texts, shape (n, dimension), float32."""
        texts = list(x)
        wrong = next((t for t in texts if not isinstance(t, str)), None)
        if wrong is not None:
            raise ModelError(f"{self.label} takes text (str); got a {type(wrong).__name__}.")
        return self.encoder.encode(
            texts,
            batch_size=self.max_batch,
            convert_to_numpy=True,
            show_progress_bar=False,
            normalize_embeddings=self.normalize_embeddings,
            device=str(self.device),
        )

    def predict(self, x: Any) -> Predictions:
        """Predict a batch of texts (list of str)."""
        return predict_in_chunks(
            lambda chunk: self.head._predict_chunk(self.embed(chunk)),
            x,
            self.max_batch,
            self.label,
        )

    def fingerprint(self) -> str:
        """Hash of the encoder (modules, their settings, weights, tokenizer) and the head."""
        tokenizer = getattr(self.encoder, "tokenizer", None)
        return hash_bytes(
            b"sentence-transformers\n",
            repr(self.encoder).encode(),  # its modules with their settings (pooling, ...)
            tokenizer_identity(tokenizer) if tokenizer is not None else b"",
            f"normalize_embeddings={self.normalize_embeddings}".encode(),
            *_module_state(self.encoder),
            self.head.fingerprint().encode(),
        )

    def runtime_packages(self) -> tuple[str, ...]:
        """The packages whose versions shape the outputs."""
        return ("scikit-learn", "sentence-transformers", "tokenizers", "torch", "transformers")

    def close(self) -> None:
        """Nothing to release (the encoder stays usable)."""
