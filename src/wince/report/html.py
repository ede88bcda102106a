"""The self-contained HTML report: one file, scripts embedded once, no network at view time.

The page carries the Vega bundle (vega, vega-lite, vega-embed, from vl-convert) once, every
figure's specification as inert JSON, and images and audio as data URIs. A Content Security
Policy forbids every network request and runs only the two scripts whose hashes it lists, so
even text that slipped past escaping could not execute. Jinja2 autoescaping is on for every
value; only the bundled scripts are trusted markup.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

import jinja2
from markupsafe import Markup

from wince.report.figures import VEGA_LITE_VERSION, Figure

# Renders every figure into its placeholder; a failure shows in place and in the console.
INIT_SCRIPT = """
(function () {
  var specs = JSON.parse(document.getElementById("wince-figures").textContent);
  var options = {actions: false, renderer: "svg", tooltip: {theme: "light"}};
  document.querySelectorAll(".vega").forEach(function (el) {
    vegaEmbed(el, specs[el.dataset.key], options).then(function () {
      el.dataset.rendered = "true";
    }).catch(function (error) {
      el.textContent = "This figure could not be drawn: " + error;
      console.error(error);
    });
  });
})();
"""


@functools.lru_cache(maxsize=2)
def vega_bundle(vl_version: str = VEGA_LITE_VERSION) -> str:
    """Vega, Vega-Lite and vega-embed as one script (built offline by vl-convert, ~0.9 MB)."""
    import vl_convert

    # the default snippet exposes vegaEmbed, vega and vegaLite on window
    bundle: str = vl_convert.javascript_bundle(vl_version=vl_version)  # type: ignore[call-arg]
    # a literal "</script" inside the bundle would end the element early
    return bundle.replace("</script", "<\\/script")


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(scripts: list[str]) -> str:
    """No network at all; only the listed inline scripts run (Vega compiles expressions)."""
    hashes = " ".join(_hash(s) for s in scripts)
    return (
        "default-src 'none'; "
        f"script-src {hashes} 'unsafe-eval'; "
        "style-src 'unsafe-inline'; img-src data:; media-src data:; font-src data:; "
        "connect-src 'none'; form-action 'none'; base-uri 'none'"
    )


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment, autoescaping every value of every template."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("wince.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    return env


def _pct(value: Any, digits: int = 1) -> str:
    from wince.report.narrative import percent

    try:
        return percent(float(value), digits)
    except (TypeError, ValueError):
        return "n/a"


def _num(value: Any, spec: str = ".3g") -> str:
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "n/a" if value is None else str(value)


def render_html(context: dict[str, Any], figures: list[Figure]) -> str:
    """The report page from its context (see `wince.report.build`) and figures."""
    bundle = vega_bundle()
    scripts = [bundle, INIT_SCRIPT]
    specs = {figure.key: figure.spec for figure in figures}
    template = environment().get_template("report.html.j2")
    return template.render(
        **context,
        figures=figures,
        figure_specs=json.loads(json.dumps(specs)),
        csp=content_security_policy(scripts),
        # trusted assets shipped with wince: the only markup not escaped
        vega_script=Markup(bundle),
        init_script=Markup(INIT_SCRIPT),
    )
