"""Image folders (.png .jpg .jpeg .bmp .webp), read lazily."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wince.datasets.readers.common import option
from wince.datasets.readers.folders import FileFolderDataset, reject_folder_options
from wince.errors import DataError
from wince.perturbations.base import DataContext, Modality, stack_samples

if TYPE_CHECKING:
    from wince.plan import DataSpec

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_GREY_MODES = frozenset({"1", "L", "LA"})


class ImageFolderDataset(FileFolderDataset):
    """A folder of images (.png .jpg .jpeg .bmp .webp), read lazily one batch at a time.

    Labels are the names of the immediate subfolders (`folder/cat/1.png` is a "cat"); images
    directly in the folder are unlabelled. Ids are paths relative to the folder ("cat/1.png").
    Batches are uint8 (n, height, width, channels): 1 channel (L) if every image is greyscale,
    else 3 (RGB; an alpha channel is dropped, palettes are expanded). Pixels are decoded as
    stored (EXIF rotation is not applied). Images are never resized: a folder of images of
    several sizes gives batches of several sizes (a `RaggedBatch` when a batch mixes them),
    which the engine evaluates one size at a time. Construction reads only the file headers;
    `batch` decodes only the files it returns.

    Args:
        folder: the image folder.
        limit: keep the first N images (in the order above).

    Raises:
        DataError: missing folder, no images, images both loose and in subfolders, an
            unreadable image, or 16-bit or float images.

    Examples:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     for name in ("cat/a.png", "dog/b.png"):
        ...         (pathlib.Path(folder) / name).parent.mkdir()
        ...         Image.new("RGB", (4, 3), "red").save(pathlib.Path(folder) / name)
        ...     data = ImageFolderDataset(folder)
        ...     x = data.batch(0, 2)
        >>> x.shape, x.dtype.name, data.ids, data.labels.tolist()
        ((2, 3, 4, 3), 'uint8', ['cat/a.png', 'dog/b.png'], ['cat', 'dog'])
    """

    kind = "images"
    extensions = IMAGE_EXTENSIONS
    noun = "images"
    modality = Modality.IMAGE

    def __init__(self, folder: str | Path, *, limit: int | None = None) -> None:
        super().__init__(folder, limit=limit)
        self._sizes: dict[Path, tuple[int, int]] = {}
        grey = True
        for path in self.files:
            with self._open(path) as image:
                if image.mode in ("I", "F") or image.mode.startswith("I;"):
                    raise DataError(
                        f"{path}: {image.mode} images (16-bit or floating-point pixels) are not "
                        "supported; save them with 8 bits per channel."
                    )
                self._sizes[path] = image.size
                grey = grey and image.mode in _GREY_MODES
        self.mode = "L" if grey else "RGB"
        self.channels = 1 if grey else 3

    def _open(self, path: Path) -> Any:
        from PIL import Image, UnidentifiedImageError

        try:
            return Image.open(path)
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"{path}: not a readable image ({error}).") from None
        except Image.DecompressionBombError as error:
            raise DataError(
                f"{path}: too many pixels to decode safely, a guard against decompression "
                f"bombs (small files that decode to gigabytes): {str(error).rstrip('.')}. "
                "Downscale the image."
            ) from None

    def _read(self, files: Sequence[Path]) -> Any:
        """The images as one uint8 batch, or a `RaggedBatch` when their sizes differ."""
        sizes = set(self._sizes.values())
        if not files and len(sizes) == 1:
            ((width, height),) = sizes
            return np.empty((0, height, width, self.channels), dtype=np.uint8)
        images = []
        for path in files:
            with self._open(path) as image:
                try:
                    pixels = np.asarray(image.convert(self.mode))
                except (OSError, ValueError) as error:
                    raise DataError(f"{path}: cannot decode the image ({error}).") from None
            pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
            width, height = self._sizes[path]
            if pixels.shape[:2] != (height, width):
                raise DataError(
                    f"{path}: is now {pixels.shape[1]}x{pixels.shape[0]} px; it was "
                    f"{width}x{height} px when the folder was read. Did it change during the run?"
                )
            images.append(pixels)
        return stack_samples(images)

    def context(self) -> DataContext:
        """Image data need no dataset-level facts."""
        return DataContext(Modality.IMAGE)


def read_images(
    path: str | Path, spec: DataSpec | None = None, *, limit: int | None = None
) -> ImageFolderDataset:
    """A folder of images, labelled by subfolder, read lazily (see `ImageFolderDataset`).

    Args:
        path: the image folder.
        spec: the plan's data section (`limit`).
        limit: keep the first N images.

    Returns:
        A lazy image dataset.

    Raises:
        DataError: see `ImageFolderDataset`.
        PlanError: `data.label`, `data.id`, `data.inputs` or `data.features` is set.
    """
    reject_folder_options(spec, "images")
    return ImageFolderDataset(path, limit=option(spec, "limit", limit))
