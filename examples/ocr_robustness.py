"""OCR robustness: a real text recogniser (PP-OCR) under blur, JPEG, noise, light, tilt, scale.

Offline: RapidOCR's PP-OCRv6 text-line recogniser, whose ONNX weights ship inside the
`rapidocr` wheel (wince's `examples` extra), reads single printed lines rendered here with
Pillow's bundled font from wince's review sentences; the labels are the rendered strings.
The lines are analysed under six realistic image perturbations; the script prints the
character error rate clean and under the scenario that raises it most (95% intervals over
lines), the findings, and writes an HTML report.

    python examples/ocr_robustness.py            # full size (a few minutes of CPU)
    python examples/ocr_robustness.py --quick    # under a minute, as CI runs it
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from _findings import print_headline
from _rendered_text import printable_sentences, text_line
from rapidocr import RapidOCR

import wince
from wince.datasets.base import ArrayDataset
from wince.models.base import CallableAdapter

OUT_DIR = Path("wince-examples/ocr")
# small print, as in a phone photo of a receipt or a label: 14 px letters on 32 px lines
LINE_HEIGHT_PX = 32
LINE_WIDTH_PX = 320
FONT_PX = 14
# what wince's model identity hashes instead of the engine (whose state it cannot hash)
MODEL_VERSION = f"rapidocr {metadata.version('rapidocr')} text-line recogniser"


def dataset(quick: bool) -> ArrayDataset:
    """Rendered lines (20, or 100 at full size): (n, 32, 320, 3) uint8 RGB, labelled by text."""
    texts = printable_sentences(LINE_WIDTH_PX - FONT_PX, FONT_PX)[: 20 if quick else 100]
    images = [
        text_line(text, width_px=LINE_WIDTH_PX, height_px=LINE_HEIGHT_PX, size_px=FONT_PX)
        for text in texts
    ]
    return ArrayDataset(np.stack(images), labels=texts, modality="image", name="text lines")


def line_recogniser() -> Callable[[Sequence[np.ndarray]], list[str]]:
    """PP-OCR's recogniser alone (no detection): one recognised string per line image."""
    engine = RapidOCR(params={"Global.log_level": "error"})

    def read(images: Sequence[np.ndarray]) -> list[str]:
        results = (engine(image, use_det=False, use_cls=False, use_rec=True) for image in images)
        return [" ".join(result.txts or ()) for result in results]

    return read


def plan(quick: bool) -> dict[str, Any]:
    levels = [1, 3, 5] if quick else [1, 2, 3, 4, 5]
    return {
        "name": "example-ocr",
        "description": "RapidOCR's PP-OCRv6 recogniser on rendered lines of review sentences.",
        "perturbations": [
            {"name": "image.defocus_blur", "levels": levels},
            {"name": "image.jpeg", "levels": levels},
            {"name": "image.gaussian_noise", "levels": levels},
            {"name": "image.low_light", "levels": levels},
            {"name": "image.rotation", "levels": levels},
            {"name": "image.downscale", "levels": levels},
        ],
        "combinations": "none",
        "repeats": 1 if quick else 2,
        "seed": 0,
        "analysis": {"bootstrap": 200 if quick else 1000},
    }


def main(quick: bool = False, out_dir: str | Path = OUT_DIR) -> dict[str, Any]:
    """Render, analyse, print the headline and write the report; returns what was produced."""
    out = Path(out_dir)
    data = dataset(quick)
    model = CallableAdapter(line_recogniser(), task="text", version=MODEL_VERSION)
    run = wince.run(model, data, plan(quick), store=str(out / ".wince"))
    headline = print_headline(run, "cer", "character error rate")
    report = run.report(out=out / f"report-{run.id}.html", data=data)
    print(f"  report: {report}")
    return {"run_id": run.id, "report": report, "headline": headline}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (as in CI)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    main(quick=args.quick, out_dir=args.out)
