"""The committed reference docs match what the code generates (`make docs` regenerates them)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from wince import docs
from wince.errors import WinceError
from wince.perturbations import Modality, registry
from wince.plan import Plan

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docs.pages()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    docs.generate(folder)
    return folder


@pytest.mark.parametrize("page", docs.PAGES)
def test_committed_reference_is_up_to_date(page, generated, written):
    fresh = (written / "reference" / page).read_text(encoding="utf-8")
    committed = DOCS / "reference" / page
    assert committed.is_file(), f"docs/reference/{page} is missing: run make docs"
    assert committed.read_text(encoding="utf-8") == fresh, (
        f"docs/reference/{page} is out of date with the code: run make docs and commit it"
    )
    assert fresh == generated[page], "the generator is not deterministic"


def test_plan_reference_lists_every_field_of_every_section(generated):
    schema = Plan.model_json_schema()
    sections = [schema, *schema["$defs"].values()]
    text = generated["plan.md"]
    for section in sections:
        for field in section["properties"]:
            assert f"| `{field}` |" in text, f"{section['title']}.{field} is not documented"


def test_perturbation_catalogue_has_every_perturbation_with_its_unit(generated):
    text = generated["perturbations.md"]
    library = {n: c for n, c in registry().items() if c.__module__.startswith("wince.")}
    assert len(library) >= 90
    for name, cls in library.items():
        assert f"\n### {name}\n" in text
        assert f"`{cls.magnitude.name}` ({cls.magnitude.unit})" in text
        gallery = f"(../gallery/{name}.png)"
        assert (gallery in text) == (cls.modality == Modality.IMAGE)
    others = set(registry()) - set(library)  # registered by tests or user code: not the library's
    assert not any(f"\n### {name}\n" in text for name in others)


def test_cli_reference_has_every_command(generated):
    from typer.main import get_command

    from wince.cli import app

    root = get_command(app)
    for name in root.commands:  # type: ignore[attr-defined]
        assert f"## wince {name}" in generated["cli.md"]


HAND_WRITTEN = sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda page: page.name)
def test_hand_written_doc_links_resolve(page):
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link and not link.startswith("gallery/")]
    for link in local:
        assert (page.parent / link).exists(), f"docs/{page.name} links to missing {link}"


def test_architecture_names_only_modules_that_exist():
    """Every source and test path the architecture page cites is in the repository."""
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    package = DOCS.parent / "src" / "wince"
    cited = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+(?:\.py|/))`", text))
    assert {"cli.py", "perturbations/base.py", "store/by_scenario.py"} <= cited
    top_level = ("tests/", "benchmarks/", "docs/", "examples/")
    missing = [
        path
        for path in sorted(cited)
        if not ((DOCS.parent if path.startswith(top_level) else package) / path).exists()
    ]
    assert not missing, f"docs/architecture.md cites paths that do not exist: {missing}"


def test_readme_catalogue_table_is_up_to_date(tmp_path):
    readme = Path(__file__).resolve().parents[1] / "README.md"
    copy = tmp_path / "README.md"
    copy.write_text(readme.read_text(encoding="utf-8"), encoding="utf-8")
    assert not docs.write_readme_catalogue(copy), (
        "README.md's catalogue table is out of date with the perturbation registry: run "
        "`python -m wince.docs` (make docs) and commit README.md"
    )
    table = docs.readme_catalogue()
    assert "| image | blur | `defocus_blur`, `gaussian_blur`, `motion_blur` (% of" in table
    library = [n for n, c in registry().items() if c.__module__.startswith("wince.")]
    assert all(f"`{name.split('.', 1)[1]}`" in table for name in library)


def test_readme_catalogue_is_written_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    stale = f"intro\n{docs.CATALOGUE_START}\n| old | table |\n{docs.CATALOGUE_END}\nrest\n"
    readme.write_text(stale, encoding="utf-8")
    assert docs.write_readme_catalogue(readme)
    text = readme.read_text(encoding="utf-8")
    assert text == (
        f"intro\n{docs.CATALOGUE_START}\n{docs.readme_catalogue()}{docs.CATALOGUE_END}\nrest\n"
    )
    assert not docs.write_readme_catalogue(readme)
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(WinceError, match="no catalogue markers"):
        docs.write_readme_catalogue(readme)


def test_every_option_of_every_registered_defence_is_described():
    from wince.defences import registry as defences

    undescribed = []
    for name, cls in defences().items():
        described = docs.defence_option_descriptions(cls)
        options = [
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        undescribed += [f"{name}: {option}" for option in options if not described.get(option)]
    assert undescribed == []


def test_the_defence_reference_shows_inherited_option_descriptions(generated):
    text = generated["defences.md"]
    validator = text.partition("## `tabular.validate`")[2].partition("\n## ")[0]
    assert "| `margin` | `0.5` | how far beyond the clean range" in validator
    assert "counts its clean rejection out of sample" in validator
    assert "out of sample" in text.partition("## `image.validate`")[2].partition("\n## ")[0]
    clip = text.partition("## `tabular.clip`")[2].partition("\n## ")[0]
    assert "| `seed` | `0` | the seed of its randomness" in clip
