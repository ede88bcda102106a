"""Calibration: the magnitudes of the library's perturbations that real data actually shows.

`calibrate(reference, production)` measures, in each perturbation's own physical unit, how far
the production inputs sit from the reference ones (or, without production data, how much the
reference varies within itself), and `Calibration.to_yaml()` writes a plan whose sweep values
are the observed p50, p90 and p99 of those magnitudes, with the evidence in comments.

| modality | quantity (unit)               | perturbation             | spread from           |
|----------|-------------------------------|--------------------------|-----------------------|
| image    | exposure (EV)                 | `image.exposure`         | shift fn of log2 lum. |
| image    | contrast (%)                  | `image.contrast`         | shift fn of log2 CV   |
| image    | sharpness -> blur sigma (%)   | `image.gaussian_blur`    | Laplacian quantiles   |
| image    | added noise (% of full scale) | `image.gaussian_noise`   | noise sd quantiles    |
| image    | JPEG quality (files only)     | `image.jpeg`             | per file              |
| image    | resolution (% per side)       | `image.downscale`        | one value             |
| text     | typo rate (of characters)     | `text.typos`             | bootstrap replicates  |
| text     | re-cased words (of words)     | `text.casing`            | bootstrap replicates  |
| text     | punctuation errors            | `text.punctuation`       | bootstrap replicates  |
| audio    | SNR (dB)                      | `audio.additive_noise`   | per clip              |
| audio    | loudness change (dB)          | `audio.gain`             | shift fn of dBFS      |
| audio    | bandwidth (Hz)                | `audio.low_pass`         | one value (spectra)   |
| tabular  | drift (column sd)             | `tabular.sensor_drift`   | per column            |
| tabular  | measurement noise (column sd) | `tabular.gaussian_noise` | per column            |
| tabular  | missing cells (fraction)      | `tabular.missing_values` | per column            |

Pooled estimates (with 95% bootstrap or normal intervals) reuse the estimators of
`wince.monitor.estimate`, so `wince monitor` and `wince calibrate` agree on every number. The
*shift function* compares the production and reference distributions of a per-image (per-clip)
statistic quantile by quantile (Doksum's shift function): Q_prod(q) - Q_ref(q) for q = 5%..95%.
Unpaired data cannot tell which production image came from which reference image, so this is
how far the q-th darkest production image sits from the q-th darkest reference image; for a
uniform change every quantile shifts by the same amount, and a change that hits some images
harder spreads the shifts out.

Without production data the reference is calibrated against itself: the spread of exposure,
contrast and loudness around the reference median, the noise level, JPEG quality of the files,
SNR of the clips, and missing cells. Drift, blur, resolution, typos, casing, punctuation and
bandwidth need a production set (they are a difference between two sets; for typos, no English
word list is shipped, so the reference's vocabulary is the list) and are listed as left out.

Text: the typo rate is `wince.monitor`'s non-word estimator, which assumes the production texts
are *new* texts from the reference's source and that the reference's vocabulary covers theirs.
On a small reference the vocabulary gap is noisy (halves of the 370 demo sentences give clean
estimates of 0.2-1%); production texts that repeat the reference's texts read low.

Layout: `pipeline.calibrate` gathers the reference and production samples, hands them to the
modality's module (`images`, `text`, `audio`, `tables`), which supplies only its estimators,
and collects the quantities into a `Calibration`. `base.measure` runs the estimators and turns
each `Measurement` into a `Quantity` (`quantities`: quantiles, plan values, notes); `base` also
holds the statistics the estimators share (shift function, spreads, bootstrap intervals).
`render` writes the plan. `wince.realism.calibrate` re-exports the public names.
"""
