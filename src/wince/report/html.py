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
import re
from typing import Any

import jinja2
from markupsafe import Markup, escape

from wince.report.figures import VEGA_LITE_VERSION, Figure, import_vl_convert

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
    vl_convert = import_vl_convert()
    # the default snippet exposes vegaEmbed, vega and vegaLite on window
    bundle: str = vl_convert.javascript_bundle(vl_version=vl_version)
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
    env.filters["visible"] = visible
    env.filters["breakable"] = breakable
    return env


# characters that print nothing, each shown as a chip with its abbreviation and name
INVISIBLE = {
    "\u00ad": ("SHY", "soft hyphen"),
    "\u034f": ("CGJ", "combining grapheme joiner"),
    "\u061c": ("ALM", "Arabic letter mark"),
    "\u180e": ("MVS", "Mongolian vowel separator"),
    "\u200b": ("ZWSP", "zero-width space"),
    "\u200c": ("ZWNJ", "zero-width non-joiner"),
    "\u200d": ("ZWJ", "zero-width joiner"),
    "\u200e": ("LRM", "left-to-right mark"),
    "\u200f": ("RLM", "right-to-left mark"),
    "\u202a": ("LRE", "left-to-right embedding"),
    "\u202b": ("RLE", "right-to-left embedding"),
    "\u202c": ("PDF", "pop directional formatting"),
    "\u202d": ("LRO", "left-to-right override"),
    "\u202e": ("RLO", "right-to-left override"),
    "\u2060": ("WJ", "word joiner"),
    "\u2061": ("FA", "function application"),
    "\u2062": ("IT", "invisible times"),
    "\u2063": ("IS", "invisible separator"),
    "\u2064": ("IP", "invisible plus"),
    "\u2066": ("LRI", "left-to-right isolate"),
    "\u2067": ("RLI", "right-to-left isolate"),
    "\u2068": ("FSI", "first strong isolate"),
    "\u2069": ("PDI", "pop directional isolate"),
    "\ufe0e": ("VS15", "text presentation selector"),
    "\ufe0f": ("VS16", "emoji presentation selector"),
    "\ufeff": ("ZWNBSP", "zero-width no-break space"),
}


def visible(text: Any) -> Markup:
    """Text escaped, each invisible character (zero-width, direction mark) as a visible chip.

    The chip replaces the character, so a direction override cannot reorder the page's text.

    Examples:
        >>> str(visible("a\u200bb<"))
        'a<span class="invisible" title="zero-width space (U+200B)">ZWSP</span>b&lt;'
    """
    parts = []
    for char in str(text):
        found = INVISIBLE.get(char)
        if found is None:
            parts.append(escape(char))
        else:
            short, name = found
            parts.append(
                Markup('<span class="invisible" title="{} (U+{:04X})">{}</span>').format(
                    name, ord(char), short
                )
            )
    return Markup("").join(parts)


def breakable(text: Any) -> Markup:
    """Text escaped, with a line-break opportunity after each comma, bracket and equals sign.

    A scenario name then wraps between its parameters ("missing_rate=0.3,<wbr>mechanism=...")
    rather than mid-word.
    """
    return Markup(re.sub(r"([,(=])", r"\1<wbr>", str(escape(str(text)))))


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
