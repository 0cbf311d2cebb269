"""The one thing pyproject.toml cannot say: resources/ is installed as the package `geotagger_resources` beside
the code packages (found by `geocore.resources` through importlib.resources in every kind of install)."""

from setuptools import find_packages, setup

CODE_PACKAGES = find_packages(include=["app", "app.*", "geocore", "geocore.*", "trainer", "trainer.*"])
# What the app reads at run time; resources/calibration and the build scripts are for building, not shipped.
SHIPPED = ["models/*.geomodel", "models/README.md", "scene/*", "leaflet/*", "leaflet/images/*", "world/*",
           "basemap/*.js", "basemap/*.json", "basemap/LICENSE*", "basemap/README.md", "samples/*.jpg",
           "samples/LICENSES.md", "icons/*", "icons/hicolor/*/apps/*", "desktop/*"]

setup(
    packages=[*CODE_PACKAGES, "geotagger_resources"],
    package_dir={"geotagger_resources": "resources"},
    package_data={"geotagger_resources": SHIPPED, "": ["py.typed"], "app.map": ["*.js", "*.css", "*.html"]},
)
