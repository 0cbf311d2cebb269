"""Map pages built with folium around the vendored Leaflet: folium's CDN links are replaced by local files (the
app's live page) or by the files' text (a self-contained export). Nothing in either page is fetched from a network.

Data reaches a page only as JSON text (`safe_json`) that cannot close a <script> or open markup; the page's own
code puts strings into the DOM with textContent, never as HTML.
"""

from __future__ import annotations

import json
from typing import Any

from geotagger.geocore.mapping.basemap import BASEMAP_SCRIPTS, DECODER_SCRIPT, basemap_dir
from geotagger.geocore.resources import resource_path

BASEMAP_LAYER_JS = "basemap-layer.js"  # our drawing code for the basemap, shipped beside its data
LEAFLET_JS = ("leaflet", "leaflet.js")
LEAFLET_CSS = ("leaflet", "leaflet.css")
VECTORGRID_JS = "Leaflet.VectorGrid.bundled.min.js"  # vector tiles of the user's archive (with pbf, vector-tile)
CONTENT_SECURITY_POLICY = (
    "default-src 'self' file: qrc:; img-src 'self' file: qrc: data: https:; "
    "script-src 'self' file: qrc: 'unsafe-inline'; style-src 'self' file: 'unsafe-inline'"
)
EXPORT_CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; script-src 'unsafe-inline'; "
                                  "style-src 'unsafe-inline'")
PAGE_STYLE = """
html, body { margin: 0; height: 100%; width: 100%; }
.folium-map.leaflet-container { background: #c9dbe9; }
.gt-cluster { background: rgba(37, 99, 235, 0.85); color: white; border: 2px solid white; border-radius: 50%;
  text-align: center; font: bold 11px/24px sans-serif; box-shadow: 0 0 3px rgba(0,0,0,.5); }
.gt-legend, .gt-message { background: rgba(255,255,255,.9); padding: 4px 6px; font: 12px sans-serif;
  border-radius: 4px; max-width: 300px; }
.gt-message { background: #fef3c7; border: 1px solid #f59e0b; }
.gt-place { font: 11px sans-serif; color: #374151; white-space: nowrap; text-shadow: 0 0 2px #fff, 0 0 2px #fff;
  pointer-events: none; }
.gt-place.gt-big { font-weight: bold; font-size: 12px; }
.gt-tick { font: 10px sans-serif; color: #7c2d12; background: rgba(255,255,255,.8); padding: 0 2px;
  border-radius: 2px; white-space: nowrap; }
.gt-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; }
.gt-popup img { max-width: 200px; max-height: 160px; display: block; }
"""


def safe_json(value: Any) -> str:
    """JSON text that cannot close a <script> or open markup, whatever strings it carries."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return safe_script_text(text)


def safe_script_text(text: str) -> str:
    """Escape already-serialised JSON (or a vendored data script) the same way as safe_json."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _code_element(code: str, where: str = "script") -> Any:
    """A folium child whose `where` part (script or header) is exactly `code` (not parsed as a template)."""
    from branca.element import MacroElement
    from folium.template import Template

    class Code(MacroElement):
        _template = Template("{% macro " + where + "(this, kwargs) %}{{ this.code }}{% endmacro %}")

        def __init__(self, text: str) -> None:
            super().__init__()
            self._name = "GeotaggerCode"
            self.code = text

    return Code(code)


def new_map(scripts: list[tuple[str, str]], styles: list[tuple[str, str]]) -> Any:
    """A folium Map with no tiles and no CDN: `scripts`/`styles` are (name, url) pairs of local files."""
    import folium

    world_map = folium.Map(location=[20, 0], zoom_start=2, tiles=None, world_copy_jump=True, control_scale=True,
                           min_zoom=1, max_zoom=19)
    world_map.default_js = list(scripts)
    world_map.default_css = list(styles)
    return world_map


def live_page(config: dict[str, Any], live_code: str, extra_scripts: tuple[str, ...] = ()) -> str:
    """The app's page: local files linked relative to the resources folder (the page's base URL)."""
    scripts = [("leaflet", "leaflet/leaflet.js"), ("vectorgrid", f"leaflet/{VECTORGRID_JS}"),
               ("topojson", f"basemap/{DECODER_SCRIPT}")]
    scripts += [(name, f"basemap/{name}") for name in BASEMAP_SCRIPTS]
    scripts += [(url, url) for url in extra_scripts]
    world_map = new_map(scripts, [("leaflet_css", "leaflet/leaflet.css")])
    return _render(world_map, config, live_code, CONTENT_SECURITY_POLICY, [])


def inline_page(config: dict[str, Any], code: str, data_scripts: dict[str, str]) -> str:
    """A self-contained page: Leaflet, the decoder and `data_scripts` (name -> JS text) inside the file."""
    world_map = new_map([], [])
    leaflet = resource_path("leaflet", "leaflet.js").read_text(encoding="utf-8")
    decoder = (basemap_dir() / DECODER_SCRIPT).read_text(encoding="utf-8")
    css = resource_path("leaflet", "leaflet.css").read_text(encoding="utf-8")
    inline = [f"<style>{css}</style>", f"<script>{leaflet}</script>", f"<script>{decoder}</script>"]
    inline += [f"<script>{safe_script_text(text)}</script>" for text in data_scripts.values()]
    return _render(world_map, config, code, EXPORT_CONTENT_SECURITY_POLICY, inline)


def _render(world_map: Any, config: dict[str, Any], code: str, policy: str, head: list[str]) -> str:
    from branca.element import Element

    root = world_map.get_root()
    root.header.add_child(Element(f'<meta http-equiv="Content-Security-Policy" content="{policy}">'),
                          name="csp", index=0)
    root.header.add_child(Element(f"<style>{PAGE_STYLE}</style>" + "".join(head)), name="geotagger_head")
    setup = (f"window.GEOTAGGER_MAP = {world_map.get_name()};\n"
             f"window.GEOTAGGER_CONFIG = {safe_json(config)};\n")
    basemap = (basemap_dir() / BASEMAP_LAYER_JS).read_text(encoding="utf-8")
    world_map.add_child(_code_element(setup + basemap + "\n" + code))
    return str(root.render())
