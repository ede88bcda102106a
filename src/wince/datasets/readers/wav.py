"""WAV folders: 8-bit unsigned, 16/24/32-bit PCM and 32/64-bit float WAV files, read lazily."""

from __future__ import annotations

import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import numpy.typing as npt

from wince.datasets.readers.common import option
from wince.datasets.readers.folders import FileFolderDataset, reject_folder_options
from wince.errors import DataError
from wince.perturbations.base import DataContext, Modality, stack_samples

if TYPE_CHECKING:
    from wince.plan import DataSpec

WAV_EXTENSIONS = (".wav",)


@dataclass(frozen=True)
class _WavInfo:
    """What a WAV header says: sample format, channels, rate, frames and where the data are."""

    float_samples: bool
    width_bytes: int
    channels: int
    rate_hz: int
    frames: int
    data_offset: int | None  # None: read through the `wave` module


_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_FFMPEG_HINT = "convert it to 16-bit PCM, e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav"


def _wav_info(path: Path, handle: BinaryIO) -> _WavInfo:
    """Read the header of an open WAV file.

    The standard `wave` module reads PCM files; whatever it rejects (IEEE float, and
    WAVE_FORMAT_EXTENSIBLE before Python 3.12) is read by walking the RIFF chunks here, which
    also explains why a damaged or unsupported file cannot be read.
    """
    try:
        with wave.open(handle, "rb") as reader:
            return _WavInfo(
                False,
                reader.getsampwidth(),
                reader.getnchannels(),
                reader.getframerate(),
                reader.getnframes(),
                None,
            )
    except (wave.Error, EOFError):
        pass  # not plain PCM, or damaged: the RIFF walk below says which
    handle.seek(0)
    return _riff_info(path, handle)


def _riff_info(path: Path, handle: BinaryIO) -> _WavInfo:
    head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        raise DataError(f"{path}: not a WAV file (no RIFF/WAVE header).")
    handle.seek(0, 2)
    file_size = handle.tell()
    handle.seek(12)
    fmt: tuple[int, int, int, int, int] | None = None
    while len(chunk := handle.read(8)) == 8:
        chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        start = handle.tell()
        if chunk_id == b"fmt ":
            body = handle.read(size)
            if len(body) < 16:
                break
            tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]  # first field of the SubFormat GUID
            fmt = (tag, channels, rate, block, bits)
        elif chunk_id == b"data":
            if fmt is None:
                break
            tag, channels, rate, block, bits = fmt
            if tag not in (_WAVE_FORMAT_PCM, _WAVE_FORMAT_IEEE_FLOAT) or channels < 1 or rate < 1:
                raise DataError(
                    f"{path}: WAV sample format {tag} is not supported; {_FFMPEG_HINT}."
                )
            width = bits // 8
            supported = (4, 8) if tag == _WAVE_FORMAT_IEEE_FLOAT else (1, 2, 3, 4)
            if width not in supported or bits % 8 or block != width * channels:
                raise DataError(
                    f"{path}: {bits}-bit {'float' if tag == 3 else 'PCM'} WAV is not "
                    f"supported; {_FFMPEG_HINT}."
                )
            # Streaming writers leave the size at 0 or 0xFFFFFFFF; trust the file instead.
            available = file_size - start
            size = available if size in (0, 0xFFFFFFFF) else min(size, available)
            return _WavInfo(
                tag == _WAVE_FORMAT_IEEE_FLOAT, width, channels, rate, size // block, start
            )
        handle.seek(start + size + (size & 1))
    raise DataError(f"{path}: not a readable WAV file (no fmt or data chunk).")


def _decode(raw: bytes, info: _WavInfo) -> npt.NDArray[np.float64]:
    """Frames as float64 in [-1, 1], averaged over channels (mono)."""
    width = info.width_bytes
    raw = raw[: len(raw) - len(raw) % (width * info.channels)]
    if info.float_samples:
        samples = np.frombuffer(raw, dtype=f"<f{width}").astype(np.float64)
    elif width == 1:  # 8-bit WAV is unsigned, centred on 128
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 3:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((len(triples), 4), dtype=np.uint8)
        padded[:, 1:] = triples  # little endian: the low byte stays 0, sign lands on top
        samples = padded.view("<i4").ravel().astype(np.float64) / 2.0**31
    else:
        samples = np.frombuffer(raw, dtype=f"<i{width}").astype(np.float64) / 2.0 ** (8 * width - 1)
    mono: npt.NDArray[np.float64] = samples.reshape(-1, info.channels).mean(axis=1)
    return mono


class WavFolderDataset(FileFolderDataset):
    r"""A folder of WAV files as mono audio, read lazily one batch at a time.

    Labels and ids as for `ImageFolderDataset` (subfolder names; relative paths). Reads 8-bit
    unsigned, 16/24/32-bit PCM and 32/64-bit float WAV. Channels are averaged to mono; samples
    are float32 in [-1, 1]. Every clip keeps its own length: a batch of clips of several
    lengths is a `RaggedBatch`, which the engine evaluates one length at a time, so a clip is
    perturbed and measured over its own samples (padding would add silence: an SNR set over
    the padded clip is higher on the speech). With `pad`, clips shorter than the longest clip
    of the dataset are zero-padded at the end instead, for a model that needs one length. All
    files must share one sample rate. Construction reads only the headers.

    Args:
        folder: the WAV folder.
        limit: keep the first N files.
        pad: zero-pad every clip to the longest (plan: `data.pad: true`).

    Raises:
        DataError: missing folder, no WAV files, an unreadable or unsupported file, sample
            rates that differ, or float samples outside [-1, 1].

    Examples:
        >>> import pathlib, tempfile, wave
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with wave.open(str(pathlib.Path(folder) / "a.wav"), "wb") as out:
        ...         out.setnchannels(1); out.setsampwidth(2); out.setframerate(8000)
        ...         out.writeframes(b"\x00\x40\x00\xc0")  # 0.5, -0.5
        ...     data = WavFolderDataset(folder)
        ...     x = data.batch(0, 1)
        >>> x.tolist(), data.sample_rate_hz, data.labels is None
        ([[0.5, -0.5]], 8000, True)
    """

    kind = "wav"
    extensions = WAV_EXTENSIONS
    noun = "WAV files"
    modality = Modality.AUDIO

    def __init__(self, folder: str | Path, *, limit: int | None = None, pad: bool = False) -> None:
        super().__init__(folder, limit=limit)
        self.pad = pad
        rates: dict[int, Path] = {}
        self._infos: dict[Path, _WavInfo] = {}
        for path in self.files:
            with path.open("rb") as handle:
                info = _wav_info(path, handle)
            if info.frames == 0:
                raise DataError(
                    f"{path}: the clip holds no samples (0 frames); remove it from the folder "
                    "or replace it with the recording."
                )
            self._infos[path] = info
            rates.setdefault(info.rate_hz, path)
            if len(rates) > 1:
                (first, first_path), (other, other_path) = rates.items()
                raise DataError(
                    f"{self.folder}: WAV files must share one sample rate; "
                    f"{first_path.relative_to(self.folder).as_posix()} is {first} Hz but "
                    f"{other_path.relative_to(self.folder).as_posix()} is {other} Hz. Resample "
                    "them to the rate the model expects."
                )
        (self.sample_rate_hz,) = rates
        self.samples = max(info.frames for info in self._infos.values())

    def _variant(self) -> bytes:
        # Unpadded clips of several lengths are other inputs than the padded ones that this
        # folder gave before clips kept their lengths (and still gives with `pad`).
        lengths = {self._infos[path].frames for path in self.files}
        return b"own lengths\0" if not self.pad and len(lengths) > 1 else b""

    def _read(self, files: Sequence[Path]) -> Any:
        """The clips as one float32 batch, or a `RaggedBatch` when their lengths differ."""
        lengths = {info.frames for info in self._infos.values()}
        if not self.pad and (files or len(lengths) > 1):
            return stack_samples([self._clip(path) for path in files])
        return self._padded(files)  # (an empty batch of one length keeps that length)

    def _padded(self, files: Sequence[Path]) -> npt.NDArray[np.float32]:
        x = np.zeros((len(files), self.samples), dtype=np.float32)
        for i, path in enumerate(files):
            clip = self._clip(path)[: self.samples]
            x[i, : len(clip)] = clip
        return x

    def _clip(self, path: Path) -> npt.NDArray[np.float32]:
        """One file's samples, mono float32."""
        info = self._infos[path]
        with path.open("rb") as handle:
            if info.data_offset is None:
                with wave.open(handle, "rb") as reader:
                    raw = reader.readframes(info.frames)
            else:
                handle.seek(info.data_offset)
                raw = handle.read(info.frames * info.width_bytes * info.channels)
        clip = _decode(raw, info)
        if info.float_samples and not (
            np.all(np.isfinite(clip)) and np.max(np.abs(clip), initial=0.0) <= 1.0
        ):
            raise DataError(
                f"{path}: float samples must be finite and in [-1, 1]; got a peak of "
                f"{np.max(np.abs(clip)):g}. Normalise the file (divide by its peak)."
            )
        return clip.astype(np.float32)

    def context(self) -> DataContext:
        """The sample rate, for perturbations defined in seconds or hertz."""
        return DataContext(Modality.AUDIO, sample_rate_hz=self.sample_rate_hz)


def read_wav(
    path: str | Path,
    spec: DataSpec | None = None,
    *,
    limit: int | None = None,
    pad: bool | None = None,
) -> WavFolderDataset:
    """A folder of WAV files, labelled by subfolder, read lazily (see `WavFolderDataset`).

    Args:
        path: the WAV folder.
        spec: the plan's data section (`limit`, `pad`).
        limit: keep the first N files.
        pad: zero-pad every clip to the longest clip; default: each keeps its own length.

    Returns:
        A lazy mono float32 audio dataset with its sample rate.

    Raises:
        DataError: see `WavFolderDataset`.
        PlanError: `data.label`, `data.id`, `data.inputs` or `data.features` is set.
    """
    reject_folder_options(spec, "wav")
    return WavFolderDataset(
        path, limit=option(spec, "limit", limit), pad=bool(option(spec, "pad", pad))
    )
