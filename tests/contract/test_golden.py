"""Golden hashes: a perturbation's output never changes without a version bump (DESIGN invariant 3).

For every registered perturbation: a fixed input, seed 0, severity 0.6 -> sha256 of the output
bytes (arrays: raw bytes of each output in turn; text: the strings utf-8 encoded and joined
with NUL). The inputs are built from integer arithmetic only, and images are uint8, so the
hashes do not depend on the platform's floating-point library.

When a test here fails:
- "add a golden hash for <name> v<version>": a new perturbation or a version bump; add the
  printed entry to `GOLDEN` (and keep the old ones: runs recorded with them still exist).
- "output changed": behaviour changed without a version bump. Bump `version` on the class, then
  add the new hash. Never edit an existing hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest

from wince.perturbations import DataContext, Modality, Perturbation, Rngs, registry

# The library's perturbations: other test modules register throwaway ones at import time.
REGISTRY = {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}

GOLDEN: dict[tuple[str, int], str] = {
    (
        "image.imagenet_c_brightness",
        1,
    ): "7c70f2e78a2f437986479e542eb1f249b914c78d4d0858f1be2fe2d47129241b",
    (
        "image.imagenet_c_contrast",
        1,
    ): "90b61f29e0bb03b6e95770a394b3c5ffaa8f75806e1442d080e71ab5800b002b",
    (
        "image.imagenet_c_defocus_blur",
        1,
    ): "c19a05a491f7c57653d44f6cb2044eace69e0e5f6b0a1e74f5ef45277c80fedc",
    (
        "image.imagenet_c_elastic_transform",
        1,
    ): "dbd67a6ddc2261fcbf95a84a19a615f3171ce2ec86395335beff54fb79e9e7e6",
    ("image.imagenet_c_fog", 1): "91d4879b319bae2d20a56efce4c65b0ffd845bf9714b67c3c5730a7197b7c95a",
    (
        "image.imagenet_c_frost",
        1,
    ): "5ed0cfd105170002e57e0266fccfd324b5aded349ffca7a449fae44bdcf4b5ec",
    (
        "image.imagenet_c_gaussian_noise",
        1,
    ): "1356deda423f1292c24010c4c4d24414f08afb96f0ee40938003f48120d12f83",
    (
        "image.imagenet_c_glass_blur",
        1,
    ): "dae6a77dc1ea16b4371b3f80b8ee26fcf77b35c64995e6091dc0ec85e705883a",
    (
        "image.imagenet_c_impulse_noise",
        1,
    ): "623a0f15ac4de9aaaa9276d3622c6fe9dddae03588a5ea97d86f0516e3d71931",
    (
        "image.imagenet_c_jpeg_compression",
        1,
    ): "1cc91ccbbd1a50a49ac7dad9912cdeb7e1c15c036817a0aca69ca16939cf056d",
    (
        "image.imagenet_c_motion_blur",
        1,
    ): "58a0dbacd1f46717330d4f26e20a4bead3b9897925bc54342b1c476f7bdc6e4e",
    (
        "image.imagenet_c_pixelate",
        1,
    ): "4cc4691b5268237e49edb567b1e0d37a1e7e47d491ca3ab01a5dfe3a830053a5",
    (
        "image.imagenet_c_shot_noise",
        1,
    ): "a7ba0854648d6ba408b215ce3416b4f684608bf480b61f54dddcd12b948c4deb",
    (
        "image.imagenet_c_snow",
        1,
    ): "1edf680d41285816e8dc5931155ee61561e2a8f041a192ad93cb9420c9d0a093",
    (
        "image.imagenet_c_zoom_blur",
        1,
    ): "6170fb966f09add4a8c751ab311d22accd21db3cf340bd51fbb7950ec282684d",
    ("image.exposure", 2): "593e4232a8f3b47475e81406d2ccf1868128664a9d0bbd1dc61be7eb37e0ec4d",
    ("image.gaussian_noise", 2): "3aa83be7a44c77656a6368d5239492e852e12a743b48225f7ae6fddfc957a434",
    ("image.jpeg", 1): "bb0334856d18057d5a0b92623898a96721a2969542510cbec714eb8ca821066e",
    ("image.webp", 1): "fbf4dd8f0ca994d4176ad9399107f7ce7dc854980374cd2151a8bf6d415cf49c",
    ("image.downscale", 1): "81172afb6a26f9d586cb3b096b8fb87d9ec05ddc6fb7d6047d4d6976f98e82bc",
    ("image.pixelation", 1): "c19a05a491f7c57653d44f6cb2044eace69e0e5f6b0a1e74f5ef45277c80fedc",
    ("image.bit_depth", 1): "359ecdd9c91197bcee4c81b56aef64967b3c6a67db563bfdead1fdef54808e6d",
    ("image.gamma_mismatch", 1): "054cdf9689d59e0816d270f3ee6db9562a6b160568ec945461ebc0bc733766e8",
    ("image.contrast", 1): "afeb70888f83f29cabea1ed0170babb7398b2f02e24a44d8a73b186daf5cf3f4",
    ("image.dead_pixels", 1): "81b91e38b5ff49ca42ec056edc953635cf62d897cc8bc8d2532c2556194f5d7b",
    ("image.gamma", 1): "36ee93b0f37cef4646a5577feeff972589921822588a89a1a21b534b45641851",
    ("image.hue_rotation", 1): "a751a73122410809b6d7b8a346601237a34ded7179c24eacf4074284301e6ce7",
    ("image.iso_noise", 1): "792edf6a5fa4fb8d92b7e8774bd179e843ee9fa931d6504af8fa273a8d159d47",
    ("image.low_light", 1): "69ec51156f98329c943d114eb2a2f719b970fca1f30e23e156c62376aaf5f384",
    ("image.saturation", 1): "e7706d07423f908ede550c83bd1f4e5c4d09a04f9b362c4ddddb5268bcdaa59f",
    ("image.shot_noise", 1): "d673cfb0859a9964e15189396f8e4c46af97ccd9bb82a7e701a2ef93889dc041",
    ("image.vignetting", 1): "22203dbfc5ff857fa86951bcefa759ec190a9f0e751e2908b413df8aa8fb4937",
    ("image.white_balance", 1): "155c92caf1e50e23c9e07c3bb8d214f038258399489611c9a0749a2aca77e4b1",
    (
        "image.chromatic_aberration",
        1,
    ): "9ac731e58b0345187e1ee3ba51bfb66777d82289fcb149f345afe6518fe04549",
    ("image.defocus_blur", 1): "e589034fc65187167cca7a1fce6910cdb035d17b94147f474e09720577b1f6d0",
    ("image.gaussian_blur", 1): "c19a05a491f7c57653d44f6cb2044eace69e0e5f6b0a1e74f5ef45277c80fedc",
    ("image.haze", 1): "fa271c1718c2d59bfc7eefb6750da831999014ea5c2308fc62ae1faf657603dd",
    (
        "image.lens_distortion",
        1,
    ): "84fcf97dcc693ca07d060a745cecc50e5eed963430e1c57ed0c4a1b8e1afe4b8",
    ("image.motion_blur", 1): "17d912bc5056336eddc1e77a667f70ba7f85e347e9e7c42d23c8f12c4b9bfff8",
    ("image.occlusion", 1): "8229ae1255621e1e15e54b565fad4e243bdfe8de18d8f09dcbe7b88e494a308c",
    ("image.perspective", 1): "38abc904659b5bd3b616a3b206f9e741daf1dc182b9cb150add6269a8143eeda",
    ("image.rotation", 1): "3664a8e23a052825c73f9f1d25a3d389e752099c4373140cafdfb313997e2429",
    ("image.translation", 1): "dd79115954299cd93375b1998c9541c71cba7ad5c53806589631ae011a60b7eb",
    ("image.zoom", 1): "be2f7e810c7c006c001c23f13061e9bb48bccb48821963e6c977cabd181d5a95",
    (
        "tabular.gaussian_noise",
        1,
    ): "37a9996abb927bb890eb5f8355d132ca78eee00e4bc4cbd7e91b113d581f84a4",
    ("text.typos", 1): "0ad5592e0875fabebbc141c7a4a25eed02fae16c65347de6bd381c0784c19c4f",
    ("text.typos", 2): "c5e58c5e99a5d70deb818f0212f3a85988c514d3c779a9678aeba79f3538288b",
    (
        "text.word_typos",
        1,
    ): "7e3dfc097c64fd449a0a9b58c561f24c04e1516a349d165dba07d85dd4fbc5a9",
    ("text.casing", 1): "6c9a1d0eab3e0831cf923bcc1431c798b3a5bf4911002bbd6e4d29b71dab3826",
    ("text.homoglyphs", 1): "fa955ddef879d3d375ee8cc41d508d24d189af22df703e74daee3ed405c866ae",
    ("text.ocr_errors", 1): "8e9ecab4a1a8f7617aeda83291a991c5bfcd4fbb3333bc683c5e04b5ff8790f2",
    ("text.punctuation", 1): "425cc5834089830bb034cc677f72fa5610688fe1290abbb0fa76e77f21157340",
    (
        "text.smart_punctuation",
        1,
    ): "9a28d71d9c0e10bc2a49f8aba9f9b40f4734b0e77dbb00b8518eb90d5c828118",
    ("text.speech_errors", 1): "30bd57adafcde60dd163ddb1bcd11251fd1cd8e79f1bd5067ca089f191f5affd",
    (
        "text.unicode_variants",
        1,
    ): "af128bcc46adfa515b52cb431ba3d918e945c87b4d1f31e4a8991c1ad0b11ec5",
    ("text.whitespace", 1): "9d93a9568d7cec5dd754c930c8f1381ed97f9c0ea054808064b95931a1dd9a75",
    ("text.zero_width", 1): "f2f8131a20035dd7b4a4e6c8c8b36b61247834f65190272d18ee593a72d816b1",
    ("text.contractions", 1): "cf35963829b33c9f12145e44b9db9b4154f49369af563edc36ca0807b1bdad6a",
    ("text.fillers", 1): "d5bdd3dd8e5cd24db2a5c51d692d279627ca57c5183c6dff103a92595c0389ed",
    ("text.number_formats", 1): "7e1510f599b2bd029da750743b7964ab671bb82d14b2e622aa539ee0e4845993",
    ("text.paraphrase", 1): "725762979c58f381971ddecd1e34b0559f222bd2120fc71ea7c36912787cde46",
    (
        "text.spelling_variants",
        1,
    ): "3b885c11d4bdceec9ffbd43d249dfb545f93b150ade7426b5a6e046be4dabb07",
    ("text.synonyms", 1): "244724f20bbe2adc69d324a05b23e4b0ebdca61259d58f243889409b108155c7",
    (
        "tabular.category_typos",
        1,
    ): "0d0a13ffb059c340174df831b7c7e6b01e3d1415c768913906e13b5057ea5782",
    (
        "tabular.missing_values",
        1,
    ): "89f041fce3a58749d3220a8a76e1a4a94e074576e334a83900ce19d185a29f72",
    ("tabular.quantisation", 1): "f2903f6602c5db87f0adcc7cdf42f99d65a32e54e26a94df89fc278d7068692c",
    ("tabular.saturation", 1): "40fc462c9245f49ef6c6f9f4faf3fc2b73631d38aeacc9036765b77609ec5e9a",
    ("tabular.sensor_drift", 1): "78cd393b540a3d7a485a74bc179ff07a6d6e6e88a6b52ed41648497639219730",
    ("tabular.sensor_gain", 1): "a0b603a44c1c233c1ad4f808f88ff32331e480a41eae596ce37d9b9a73e640e9",
    (
        "tabular.sentinel_values",
        1,
    ): "56e0e955c8dd34912f2f19a9d445bde132a31acb6fea9e2e39f9564bf1b8f054",
    (
        "tabular.unit_confusion",
        1,
    ): "bccedc71857bfb568f5528b80e0074491cf4207fc07c2a9edbe6842a82662104",
    (
        "timeseries.channel_lag",
        1,
    ): "dcf35f159bd53688625c5b42d31ca2305f94824aac54ec8b5e090fc5534a551d",
    ("timeseries.drift", 1): "139b3515a47d5530de452f6ce4113d07e9340eb0f22661f57fa65ba487a192b1",
    ("timeseries.dropouts", 1): "040a6bcdc7fb5f9e50cd7ab5c3c045c81d481cabdf9a39a2043496717da5700b",
    ("timeseries.jitter", 1): "08e870198e5e24b121d3ec098468b8536a7feb9b072bd2ff9da2ca0288545ea6",
    (
        "timeseries.sampling_jitter",
        1,
    ): "3bc78690d9ce5d68335d591591dc3ee6e9d571fb9f52fe146c721a21f4175c4f",
    ("timeseries.spikes", 1): "b4a2dc7707f1ebaa461a79ec48dd5d534fafe473020e28ca86266a9b184939d3",
    ("timeseries.time_warp", 1): "16be4f0849f0e693382a938c576e58c4d49b5a3f5dd4eca68211cdda63fccb19",
    ("text.typos", 3): "ef9153582e1b2a6ef432632c541069b5b9b62715157780fd59af8869923db270",
    ("text.word_typos", 2): "d959fbb93eac031a93cbee605448ab589155e072285d19bea00ec9de853058b8",
    ("audio.additive_noise", 1): "45286d168d0cd614477a0e4eb0b578a3d3120f9c708f7fba86b95485c8ddcad8",
    ("audio.background", 1): "fbd01dac08a82b0846e17c4227c865cec7caf32459cc3da1f8d4747185bb8f0e",
    ("audio.band_pass", 1): "f010377a1791c40aa4ef107ba8414f5e7af671d2ca45df575c576123a191c67b",
    ("audio.bit_depth", 1): "e11287019f32b2a5053672834254c8dfc969fae3983d151f24af23f897502d72",
    ("audio.clipping", 1): "34871f14862e9b16f7990185dba7b558d20dc86cbefd5e7f77ba296270a0e88d",
    ("audio.dropouts", 1): "5c1242e9f9839fe8ef14bfcbfefe8288472325bf8039eb4c31e2c622dadbd504",
    ("audio.gain", 1): "d5258cfea9cf7cb1d0b4465852f173df8f42c7f806b2144dea9e4eade79e637a",
    ("audio.high_pass", 1): "04553fd8c10cb7f701b9a9dd0f358489b17bd03bf0ce9391bfb80fcb9ff33d49",
    ("audio.low_pass", 1): "82cae76fbe4957489eff2cb4d7fb19ea170b4afed0166463a188a1eeafed91a8",
    ("audio.mp3", 1): "f9d8297ed5fc477a7ea6bc43c8ae34cc0e06a0e790783ecf0db717473102dacc",
    ("audio.pitch_shift", 1): "addfca7ab057ad9d6b29b4bc06c86431065436a817830efe8a1e502731d453e3",
    ("audio.reverb", 1): "2bd5635e7ee31d9b69b69fd4e2749b006aa38849b6fbf77c923e5c47ba0502b1",
    (
        "audio.sample_rate_reduction",
        1,
    ): "cedf28870402c7375ce9b4e8f69fb5a50c642a7c4afe4630842d55b45b75dc0f",
    ("audio.tempo", 1): "b0f3d37cfee25e5861b46c05aa9e47b6f82836f684015f27ef3b628152a44252",
    ("audio.time_shift", 1): "803e8a1930e353f5ed1741ac9ef53622af0225dc2e3cdde06f3483dae0649e03",
}

SEVERITY = 0.6
SEED = 0


def image_inputs() -> list[tuple[Any, DataContext]]:
    """uint8 RGB, grey and RGBA images with gradients and a texture, from integer arithmetic."""
    n, h, w = 4, 16, 20
    i, y, x, c = np.meshgrid(
        np.arange(n), np.arange(h), np.arange(w), np.arange(3), indexing="ij", sparse=True
    )
    rgb = ((40 * i + 9 * y + 7 * x + 60 * c + (x * y * (i + 1)) % 23) % 256).astype(np.uint8)
    grey = rgb[..., :1].copy()
    alpha = ((11 * x[..., :1] + 5 * y[..., :1]) % 256 + 0 * i).astype(np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=-1)
    context = DataContext(Modality.IMAGE)
    return [(rgb, context), (grey, context), (rgba, context)]


def text_inputs() -> list[tuple[Any, DataContext]]:
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "",
        "Naïve café owners in Zürich served crème brûlée — déjà vu!",
        "In 2023, 17 of the 42 sensors failed; see https://example.org/report?id=7.",
        "Please remember to bring your passport and two printed copies of the booking.",
    ]
    return [(texts, DataContext(Modality.TEXT))]


def tabular_inputs() -> list[tuple[Any, DataContext]]:
    x = (np.arange(20, dtype=np.float64).reshape(5, 4) * [1.0, -2.5, 100.0, 0.125]) + 3.0
    sd = np.array([1.0, 2.5, 400.0, 0.25])
    return [(x, DataContext(Modality.TABULAR, column_sd=sd))]


def audio_inputs() -> list[tuple[Any, DataContext]]:
    """Four 0.25 s clips at 16 kHz: sawtooth-like integer patterns scaled by a power of two."""
    i, k = np.meshgrid(np.arange(4), np.arange(4000), indexing="ij", sparse=True)
    x = (((k * (3 + 2 * i)) % 97 - 48) * (i + 1) / 512).astype(np.float32)
    return [(x, DataContext(Modality.AUDIO, sample_rate_hz=16_000))]


def timeseries_inputs() -> list[tuple[Any, DataContext]]:
    i, k, c = np.meshgrid(np.arange(4), np.arange(48), np.arange(3), indexing="ij", sparse=True)
    x = (((k * (c + 1) + 5 * i) % 17) - 8.0) * (c + 1) / 4
    sd = np.array([1.25, 2.5, 3.75])
    return [(x, DataContext(Modality.TIMESERIES, column_sd=sd))]


INPUTS = {
    Modality.IMAGE: image_inputs,
    Modality.TEXT: text_inputs,
    Modality.TABULAR: tabular_inputs,
    Modality.AUDIO: audio_inputs,
    Modality.TIMESERIES: timeseries_inputs,
}


def inputs_for(cls: type[Perturbation]) -> list[tuple[Any, DataContext]]:
    override = getattr(cls, "example_batch", None)
    if override is not None:
        made = override()
        return [made if isinstance(made, tuple) else (made, DataContext(cls.modality))]
    if cls.modality not in INPUTS:
        pytest.fail(
            f"{cls.name}: no golden input for modality {cls.modality!s}; add one to INPUTS."
        )
    return INPUTS[cls.modality]()


def output_digest(cls: type[Perturbation]) -> str:
    p = cls()
    digest = hashlib.sha256()
    for x, context in inputs_for(cls):
        ids = [f"golden-{i}" for i in range(len(x))]
        rngs = Rngs.for_samples(ids, seed=SEED, step=f"{cls.name}#0")
        out = p.perturb(x, p.at_severity(SEVERITY), rngs, context)
        if isinstance(out, list):
            digest.update("\x00".join(out).encode("utf-8"))
        else:
            digest.update(np.ascontiguousarray(out).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("cls", list(REGISTRY.values()), ids=list(REGISTRY))
def test_output_matches_the_golden_hash_of_its_version(cls: type[Perturbation]) -> None:
    key = (cls.name, cls.version)
    digest = output_digest(cls)
    if key not in GOLDEN:
        pytest.fail(f"add a golden hash for {cls.name} v{cls.version}: {key!r}: {digest!r},")
    assert digest == GOLDEN[key], (
        f"{cls.name} v{cls.version}: output changed without a version bump; "
        "bump `version` on the class and add a golden hash for the new version."
    )


def test_golden_entries_name_registered_perturbations() -> None:
    for name, version in GOLDEN:
        assert name in REGISTRY, f"GOLDEN names {name!r}, which is not registered"
        assert version <= REGISTRY[name].version, f"GOLDEN has {name} v{version} from the future"
