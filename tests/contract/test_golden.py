"""Golden hashes: a perturbation's output never changes without a version bump.

For every registered perturbation: a fixed input, seed 0, severity 0.6 -> sha256 of the output
bytes (arrays: raw bytes of each output in turn; text: the strings utf-8 encoded and joined
with NUL). The inputs are built from integer arithmetic only.

Under the locked dependency set (`requirements.lock`) every output matches its hash exactly,
on any CPU (`test_cpu_independence` shows that outputs do not depend on the CPU's code paths).
Under other releases of the numerical libraries an output may drift: it is then compared with
its stored reference outputs (`golden_outputs.py`) within the tolerance the perturbation
declares (`Perturbation.drift`), and the test says which is true: "environment drift within
tolerance" (a warning; the test passes) or "output changed: bump the version".

When a test here fails:
- "add a golden hash for <name> v<version>": a new perturbation or a version bump; add the
  printed entry to `GOLDEN` (and keep the old ones: runs recorded with them still exist), then
  store its reference outputs: `python tests/contract/golden_outputs.py`.
- "output changed": behaviour changed without a version bump. Bump `version` on the class, then
  add the new hash. Never edit an existing hash.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np
import pytest
from golden_outputs import compare, installed_differences, load_references, reference_arrays

from wince.perturbations import DataContext, Modality, Perturbation, Rngs, registry

# The library's perturbations: other test modules register throwaway ones at import time.
REGISTRY = {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}

# The contract runs every perturbation on small images: ImageNet-C's warning that its published
# pixel sizes are for 224 px is expected there (tests/perturbations/test_imagenet_c_reference.py).
pytestmark = pytest.mark.filterwarnings("ignore::wince.errors.ResolutionWarning")

GOLDEN: dict[tuple[str, int], str] = {
    (
        "image.imagenet_c_brightness",
        1,
    ): "c1fae194000f1c4af522150ad21e484beac906fff8dacb3af5eb41d3c4ee7b96",
    (
        "image.imagenet_c_contrast",
        1,
    ): "a2aee4af8cfc52c4d972d450bba9415bdd313532c43a061f4f46ada9b70cba77",
    (
        "image.imagenet_c_defocus_blur",
        1,
    ): "a1f44d1d41681f83079aaf3c996a3aad938b96829b4386304faa9360e714c0c0",
    (
        "image.imagenet_c_elastic_transform",
        1,
    ): "f6a197f79ab074a35e21f27d693900ea8a0c6b2d2914d2792a179b7e4ea8d7f6",
    ("image.imagenet_c_fog", 1): "1b329e652407bf0a6474134fe31889ce9a5d0d7e03997626ad992fdd3aaf4b60",
    (
        "image.imagenet_c_frost",
        1,
    ): "858f516c73ec6407bff7af4a10e0a79371385ffcf19cba8a777859872279f589",
    (
        "image.imagenet_c_gaussian_noise",
        1,
    ): "badb8f74d36c8a2aefdeb3c7d6a703c07df921ecfedd1955941f36637a8ec311",
    (
        "image.imagenet_c_glass_blur",
        1,
    ): "0404cb92d5cbf79981d1fceaea4c0fd236b57c1fb48418f16ed73fe57d9b6b6e",
    (
        "image.imagenet_c_impulse_noise",
        1,
    ): "5d3a3a8f26bc433f71610c770c35e8e818f485bd1ea0d20298e3f29fda7272a6",
    (
        "image.imagenet_c_jpeg_compression",
        1,
    ): "619c897443e1744b0eed32b6a22c12515f6565cfc22596a79382039fbaa6daa6",
    (
        "image.imagenet_c_motion_blur",
        1,
    ): "37fe124bd94b7f065ff7d57f56b7e13ad25e4cd2aeb53582e6a5469a83b89924",
    (
        "image.imagenet_c_pixelate",
        1,
    ): "f5a5b827f9c46662502c153f373a3b3cd0de314ec6a6886e8c3545de4125997d",
    (
        "image.imagenet_c_shot_noise",
        1,
    ): "ef65d5301d30389cb1b66fc319d8bae88d09d006c58d8f661ebf32a5446ab2fd",
    (
        "image.imagenet_c_snow",
        1,
    ): "6028a13999ab456e189fa2cb03099bff19dde4a7c89d11c3c079643fe747bd63",
    (
        "image.imagenet_c_zoom_blur",
        1,
    ): "ca8ae3c0afd8e6414fdd061696f73cd78bea749e5de289f205e7430a025eb4f6",
    ("image.exposure", 2): "d088b332d29fa71cba4b5ddc4a5d5f3ba0b744b53cd350b4ea65be7465230740",
    ("image.gaussian_noise", 3): "c5d92f860ff5c8d7f01a528a956d6c8411b304da8b6446589fa8de66eefa4f87",
    ("image.jpeg", 1): "3f546470e93d9eb2670da4fa07a7604b8bfbf0fdd87013f72d32a082ea734b3d",
    ("image.webp", 1): "e5d584d93337a4b4a0c8d1f2241fac322fa6715169541aa4dd15453209862287",
    ("image.downscale", 1): "bacf55e8407c3ebb62137e51a3c9c64e245edf1bfcc77a005745d2e336db8cc0",
    ("image.pixelation", 1): "2bd631e791c39adbbcb9960df27e70e09fa8582efa1af9da945ca895d41f100c",
    ("image.bit_depth", 1): "ea9a920d0ead2e2be95ba715147a2ab800ae1754b854e574ede59885ebdaa9a1",
    ("image.gamma_mismatch", 1): "ddb57d84269b095e2c3dc267089f3774ae11299fa092271187535461eca0f214",
    ("image.contrast", 1): "f9b33340f6d0f97da9389353f4fc75615e57cdfacde69665071e6b432522df00",
    ("image.dead_pixels", 1): "4da317899f0ea586a3220c755f2341de9284d7359fc8dbd8c3fb50d8c69e35e3",
    ("image.gamma", 1): "b2cb40f5f52a4d8134f842fd9bd2594524189b8a9091fdf872342b9a76218c0d",
    ("image.hue_rotation", 1): "a751a73122410809b6d7b8a346601237a34ded7179c24eacf4074284301e6ce7",
    ("image.iso_noise", 1): "0f8f8bd354c326f051edcbafb216920b70a4ff9ac20ddbcccb8300933474a44f",
    ("image.low_light", 1): "e2dbe4a50c49a96b106d623bc2be469945f6c5b756c6c1f112e6437c7f76d7ef",
    ("image.saturation", 1): "e7706d07423f908ede550c83bd1f4e5c4d09a04f9b362c4ddddb5268bcdaa59f",
    ("image.shot_noise", 1): "aedfaa1450bb7010060e3f10feb4a3bc70ae1d6722fef15412dca1079b0f245e",
    ("image.vignetting", 1): "d5a222d853a5bc42dd71c62798c4abd94de0963409e006a4620ca13993628697",
    ("image.white_balance", 1): "155c92caf1e50e23c9e07c3bb8d214f038258399489611c9a0749a2aca77e4b1",
    (
        "image.chromatic_aberration",
        1,
    ): "2fc70bf156b63a98271bfc14ec22e42986a718d9cc6dc605f4480a5b55723744",
    ("image.defocus_blur", 1): "3d24408843aa75f559a2b13043d1c48275d6554d2dd46a56ff9fd528be249231",
    ("image.gaussian_blur", 1): "86f9cd0ce5b12d53f0421c996c89a6eb0db46a24bdc8e656b1f5fbb911fd2455",
    ("image.haze", 1): "fc8f186c86ad85a09343dba7fcfa46de4e621b24b0f0cd86bba4b9060007381a",
    (
        "image.lens_distortion",
        1,
    ): "f23cf33991d299787b5f7f6a66e78701325980787de3815fbccb31f04d40331c",
    ("image.motion_blur", 1): "482b2e6fe1c393e411b76202b8da29be11ee80befae1c01081aa5ec408a71705",
    ("image.occlusion", 1): "3fb5184af234a7cd24d8b5516f979207a7ce54aa779add7cb4f66132d460e9d7",
    ("image.perspective", 1): "84d42e2098d552faf11c267d2863df59a2adbb8cd5b16af0307c24c76078ced1",
    ("image.rotation", 1): "57c328dac4ec38fed33c353a132b53762ad20b58656ec36b8c5cdaea39c8f004",
    ("image.translation", 1): "08e44147c13dd246f18010687cb68177bd8a9b32ba67e539747f683a92ab1ec5",
    ("image.zoom", 1): "99013a4e8d46542c8733a16a57329760d1264c0850aaeef6f0f6b1ff12136714",
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
    ("text.elongation", 1): "6603eb0a70e38d0be1f6c49241cb276b23ff2da4d2f6919af0d83db28583fbb2",
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
    ("text.typos", 4): "f467b9f827636f6f415ba1c652af8ddc2ed599cb35d266e8b81bd52d1d0da3ba",
    ("text.word_typos", 3): "4ea8cda9eb0339c6af30f9862af4c73f44d15c163702829728d0c410788bdc22",
    ("text.punctuation", 2): "c52afe947e596e977b74d7d26f5e18d8204ddbac292863b2727662aacfddf3ce",
    ("text.casing", 2): "6c9a1d0eab3e0831cf923bcc1431c798b3a5bf4911002bbd6e4d29b71dab3826",
    ("text.contractions", 2): "cf35963829b33c9f12145e44b9db9b4154f49369af563edc36ca0807b1bdad6a",
    ("text.fillers", 2): "d5bdd3dd8e5cd24db2a5c51d692d279627ca57c5183c6dff103a92595c0389ed",
    ("text.homoglyphs", 2): "fa955ddef879d3d375ee8cc41d508d24d189af22df703e74daee3ed405c866ae",
    ("text.number_formats", 2): "7e1510f599b2bd029da750743b7964ab671bb82d14b2e622aa539ee0e4845993",
    ("text.ocr_errors", 2): "8e9ecab4a1a8f7617aeda83291a991c5bfcd4fbb3333bc683c5e04b5ff8790f2",
    ("text.paraphrase", 2): "725762979c58f381971ddecd1e34b0559f222bd2120fc71ea7c36912787cde46",
    (
        "text.smart_punctuation",
        2,
    ): "9a28d71d9c0e10bc2a49f8aba9f9b40f4734b0e77dbb00b8518eb90d5c828118",
    ("text.speech_errors", 2): "30bd57adafcde60dd163ddb1bcd11251fd1cd8e79f1bd5067ca089f191f5affd",
    (
        "text.spelling_variants",
        2,
    ): "3b885c11d4bdceec9ffbd43d249dfb545f93b150ade7426b5a6e046be4dabb07",
    ("text.synonyms", 2): "244724f20bbe2adc69d324a05b23e4b0ebdca61259d58f243889409b108155c7",
    (
        "text.unicode_variants",
        2,
    ): "af128bcc46adfa515b52cb431ba3d918e945c87b4d1f31e4a8991c1ad0b11ec5",
    ("text.whitespace", 2): "9d93a9568d7cec5dd754c930c8f1381ed97f9c0ea054808064b95931a1dd9a75",
    ("text.zero_width", 2): "f2f8131a20035dd7b4a4e6c8c8b36b61247834f65190272d18ee593a72d816b1",
    (
        "tabular.category_typos",
        2,
    ): "0d0a13ffb059c340174df831b7c7e6b01e3d1415c768913906e13b5057ea5782",
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
    # Version 2: CPU-independent arithmetic (no SIMD-dependent OpenCV float paths).
    ("audio.pitch_shift", 2): "ca71a87009b7a11ccd9cc52e36d06a401df3d8c38c5593f8a4a5299ed3f9cf66",
    ("audio.reverb", 2): "0de3525c41e3e87620d38d6ede1ad3ca50aecbf71995f9c0103b61de56f1fe42",
    ("audio.tempo", 2): "7e635480863afb99dabdc7dcdb251a90e90f1b949c7693ba6b777b15a8437ebb",
    (
        "image.chromatic_aberration",
        2,
    ): "4ef9826ec54feec0739f9cb038d6ac4599cf8e6925c17e60cd302dcec2a40f55",
    ("image.defocus_blur", 2): "3d24408843aa75f559a2b13043d1c48275d6554d2dd46a56ff9fd528be249231",
    ("image.downscale", 2): "d1ded7fa16f4f8b36bb042c2a537c55728970c3ae90bad350271c656b6130780",
    ("image.gaussian_blur", 2): "86f9cd0ce5b12d53f0421c996c89a6eb0db46a24bdc8e656b1f5fbb911fd2455",
    ("image.gaussian_blur", 3): "f0037189973609c5fae9805c18358aa919a7a30a74c129d996ed98a3f9f28169",
    ("image.hue_rotation", 2): "77a430d9c3d1f53653a6ded094149878e16fd63403c657e9d90dfcc2f3767368",
    (
        "image.imagenet_c_defocus_blur",
        2,
    ): "a1f44d1d41681f83079aaf3c996a3aad938b96829b4386304faa9360e714c0c0",
    (
        "image.imagenet_c_elastic_transform",
        2,
    ): "5e7fef587898fcadce58b041d2b9e3d45aacbfe4180b925c39590572060f3ddc",
    ("image.imagenet_c_fog", 2): "1b329e652407bf0a6474134fe31889ce9a5d0d7e03997626ad992fdd3aaf4b60",
    (
        "image.imagenet_c_frost",
        2,
    ): "858f516c73ec6407bff7af4a10e0a79371385ffcf19cba8a777859872279f589",
    (
        "image.imagenet_c_glass_blur",
        2,
    ): "0404cb92d5cbf79981d1fceaea4c0fd236b57c1fb48418f16ed73fe57d9b6b6e",
    (
        "image.imagenet_c_motion_blur",
        2,
    ): "37fe124bd94b7f065ff7d57f56b7e13ad25e4cd2aeb53582e6a5469a83b89924",
    (
        "image.imagenet_c_snow",
        2,
    ): "534fafbaa0f1213199d5eac1859efb27a6e90c9f6a50ba4e0c12a292175e4be2",
    (
        "image.imagenet_c_zoom_blur",
        2,
    ): "d164b52c9eccca82622a7b92da71d7e77a2fb577ff9ad32c641548fa5ccbddd9",
    ("image.iso_noise", 2): "0f8f8bd354c326f051edcbafb216920b70a4ff9ac20ddbcccb8300933474a44f",
    (
        "image.lens_distortion",
        2,
    ): "f23cf33991d299787b5f7f6a66e78701325980787de3815fbccb31f04d40331c",
    ("image.low_light", 2): "e2dbe4a50c49a96b106d623bc2be469945f6c5b756c6c1f112e6437c7f76d7ef",
    ("image.motion_blur", 2): "482b2e6fe1c393e411b76202b8da29be11ee80befae1c01081aa5ec408a71705",
    ("image.perspective", 2): "25c18f898c916c2ecb0a8e0e5c360df26781d832fb56a339e4a3aa338dbd745c",
    ("image.pixelation", 2): "c9073eb0b3d47873cad817f59bd2d54f1db2b50607b526d9cadbcb17290ef990",
    ("image.rotation", 2): "f2eae6727036cedfd1bf43da5c28ad1c63c6b34a27e0c34a9e1c0ea942c5c34e",
    ("image.saturation", 2): "46531f7b59fbfa7586df72c55a7009d0f68e3ec11c44e85fff12eb8dec576313",
    ("image.shot_noise", 2): "aedfaa1450bb7010060e3f10feb4a3bc70ae1d6722fef15412dca1079b0f245e",
    ("image.translation", 2): "5964fb2f485f5dce7cc71ee2bc6b39f9992b8300bc903178b947a86fbd98876e",
    ("image.vignetting", 2): "d5a222d853a5bc42dd71c62798c4abd94de0963409e006a4620ca13993628697",
    ("image.white_balance", 2): "02b171b54fa5178b647d13348379046da1c3c02d4f990a2eee953fbe19ceeb72",
    ("image.zoom", 2): "de0493b71bc7192bb3331f80d35c60ad7933e33f9e167df8666b11f5f1ed261c",
    # Geometric perturbations replicate the edge by default (issue 22); v2 mirrored it.
    (
        "image.lens_distortion",
        3,
    ): "e7fe39b76177846ef17f0881cfad5b165a3796f5595c807ce0706f4da816d76a",
    ("image.perspective", 3): "85098d54a3de62b602aab50299e782ce99280cf115801fc7e448f0e19e01b341",
    ("image.rotation", 3): "275a6b19d2c4ee1bc9a1c86b037837a3e127fac1c24716cb72d5ea618fb4e36a",
    ("image.translation", 3): "16691f43ecd8805914994b462e9f7e9f42835d132e914d03935bd0fac2a9bba5",
    # A finger at the frame's edge by default (issue 22); v1 was a black rectangle.
    ("image.occlusion", 2): "f821888b689014fe248652975fed7cfb08219e5acc67535bc5c8faf0f16048cb",
    # Speech errors write what a recogniser writes (issue 22): spoken words, errors by sound.
    ("text.speech_errors", 3): "c220aa93cde794133221314988f0556e4191ba3c48b37bd68b0447be33bec1d3",
    # More everyday synonyms (issue 22), which the light paraphrase uses too.
    ("text.synonyms", 3): "9d87eb413ae6a2a374b77b22934ccb6a200706b162b7b7dac197d7ed2a59d453",
    ("text.paraphrase", 3): "25c9833e4265f6d8d2f994b1c3cd38dac8554961d3fb664bfcfd855c5ba7bd98",
    # Adds kind "hand"; the default finger is unchanged (solved per image, same outputs).
    ("image.occlusion", 3): "f821888b689014fe248652975fed7cfb08219e5acc67535bc5c8faf0f16048cb",
}

SEVERITY = 0.6
SEED = 0


def image_inputs() -> list[tuple[Any, DataContext]]:
    """uint8 RGB, grey and RGBA images with gradients and a texture, from integer arithmetic.

    48x64 px, so that sizes in % of the shorter side (blur, pixelation) span whole pixels.
    """
    n, h, w = 4, 48, 64
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


def golden_outputs(cls: type[Perturbation], **options: Any) -> list[Any]:
    """The perturbation's outputs on its golden inputs, at `SEVERITY` and `SEED`."""
    p = cls(**options)
    outputs = []
    for x, context in inputs_for(cls):
        ids = [f"golden-{i}" for i in range(len(x))]
        rngs = Rngs.for_samples(ids, seed=SEED, step=f"{cls.name}#0")
        outputs.append(p.perturb(x, p.at_severity(SEVERITY), rngs, context))
    return outputs


def output_digest_of(outputs: list[Any]) -> str:
    digest = hashlib.sha256()
    for out in outputs:
        if isinstance(out, list):
            digest.update("\x00".join(out).encode("utf-8"))
        else:
            digest.update(np.ascontiguousarray(out).tobytes())
    return digest.hexdigest()


def golden_verdict(
    cls: type[Perturbation], outputs: list[Any], environment_differences: list[str]
) -> tuple[bool, str]:
    """Whether `outputs` keep the golden contract, and what is true of them, in words.

    `environment_differences` lists the locked distributions installed at other versions;
    with none, outputs must match the golden hash exactly.
    """
    label = f"{cls.name} v{cls.version}"
    if output_digest_of(outputs) == GOLDEN[(cls.name, cls.version)]:
        return True, f"{label}: exact"
    bump = "output changed: bump `version` on the class and add a golden hash for it"
    if not environment_differences:
        return False, f"{label}: {bump} (the installed libraries are the locked ones)"
    references = load_references()
    keys = list(reference_arrays((cls.name, cls.version), outputs))
    if not all(key in references for key in keys):
        return False, f"{label}: {bump} (no reference outputs to tell drift from change)"
    comparison = compare([references[key] for key in keys], outputs)
    if comparison.within(cls.drift):
        return True, (
            f"{label}: environment drift within tolerance ({comparison.describe()}; declared "
            f"{cls.drift.describe()}) under {', '.join(environment_differences[:5])}"
        )
    return False, f"{label}: {bump} ({comparison.describe()}; declared {cls.drift.describe()})"


@pytest.mark.parametrize("cls", list(REGISTRY.values()), ids=list(REGISTRY))
def test_output_matches_the_golden_hash_of_its_version(cls: type[Perturbation]) -> None:
    key = (cls.name, cls.version)
    outputs = golden_outputs(cls)
    if key not in GOLDEN:
        digest = output_digest_of(outputs)
        pytest.fail(f"add a golden hash for {cls.name} v{cls.version}: {key!r}: {digest!r},")
    kept, message = golden_verdict(cls, outputs, installed_differences())
    assert kept, message
    if message.endswith(": exact"):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(message, UserWarning, stacklevel=1)


@pytest.mark.parametrize(
    "name", ["image.rotation", "image.translation", "image.perspective", "image.lens_distortion"]
)
def test_mirror_border_reproduces_the_default_of_version_2(name: str) -> None:
    # Version 3 replicates the edge by default; version 2 mirrored it.
    outputs = golden_outputs(REGISTRY[name], border="mirror")
    assert output_digest_of(outputs) == GOLDEN[(name, 2)]


def test_rectangle_occluder_reproduces_version_1() -> None:
    # Version 2 hides the area under a finger by default; version 1 under a black rectangle.
    outputs = golden_outputs(REGISTRY["image.occlusion"], kind="rectangle")
    assert output_digest_of(outputs) == GOLDEN[("image.occlusion", 1)]


@pytest.mark.slow
def test_every_current_version_has_reference_outputs() -> None:
    references = load_references()
    for name, cls in REGISTRY.items():
        missing = [
            key
            for key in reference_arrays((name, cls.version), golden_outputs(cls))
            if key not in references
        ]
        assert not missing, (
            f"no reference outputs for {name} v{cls.version}: run "
            "`python tests/contract/golden_outputs.py` (from the repository root)"
        )


def test_golden_entries_name_registered_perturbations() -> None:
    for name, version in GOLDEN:
        assert name in REGISTRY, f"GOLDEN names {name!r}, which is not registered"
        assert version <= REGISTRY[name].version, f"GOLDEN has {name} v{version} from the future"


# ---------------------------------------------------------------------------------------------
# The verdict when an output misses its hash: environment drift or a changed output


DRIFTED_OPENCV = ["opencv-python-headless 5.1.0.95 → 4.14.0.94"]


def nudged(outputs: list[Any], every: int, by: int) -> list[Any]:
    """uint8 outputs with every `every`-th value moved up `by` levels (saturating)."""
    moved = []
    for out in outputs:
        flat = out.reshape(-1).astype(np.int16)
        flat[::every] = np.minimum(flat[::every] + by, 255)
        moved.append(flat.astype(np.uint8).reshape(out.shape))
    return moved


def test_one_level_on_few_values_is_environment_drift_unless_the_libraries_are_locked() -> None:
    jpeg = REGISTRY["image.jpeg"]
    outputs = nudged(golden_outputs(jpeg), every=1000, by=1)  # 0.1% of values, one level
    kept, message = golden_verdict(jpeg, outputs, DRIFTED_OPENCV)
    assert kept
    assert "environment drift within tolerance" in message
    assert "opencv-python-headless 5.1.0.95 → 4.14.0.94" in message
    kept, message = golden_verdict(jpeg, outputs, [])
    assert not kept
    assert "output changed: bump `version`" in message
    assert "locked" in message


@pytest.mark.parametrize(("every", "by"), [(50, 1), (36_000, 3)])
def test_more_values_or_larger_changes_are_a_changed_output(every: int, by: int) -> None:
    """2% of values one level up, or a single value three levels up: beyond image drift."""
    jpeg = REGISTRY["image.jpeg"]
    kept, message = golden_verdict(jpeg, nudged(golden_outputs(jpeg), every, by), DRIFTED_OPENCV)
    assert not kept
    assert "output changed: bump `version`" in message


def test_floating_point_noise_is_not_a_change_even_for_exact_perturbations() -> None:
    gain = REGISTRY["audio.gain"]
    assert gain.drift.max_change == 0.0
    outputs = [out * np.float32(1 + 2e-7) for out in golden_outputs(gain)]
    assert output_digest_of(outputs) != GOLDEN[(gain.name, gain.version)]
    kept, message = golden_verdict(gain, outputs, DRIFTED_OPENCV)
    assert kept, message
    kept, _ = golden_verdict(gain, [out + np.float32(1e-4) for out in outputs], DRIFTED_OPENCV)
    assert not kept


def test_any_change_of_text_is_a_changed_output() -> None:
    typos = REGISTRY["text.typos"]
    outputs = [[text.replace("e", "é", 1) for text in golden_outputs(typos)[0]]]
    kept, message = golden_verdict(typos, outputs, DRIFTED_OPENCV)
    assert not kept
    assert "the text differs" in message
