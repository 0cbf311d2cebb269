"""What pyproject.toml cannot say: the package-dir mapping of the installed names.

- app/, geocore/ and trainer/ install as `geotagger.app`, `geotagger.geocore` and `geotagger.trainer` (the
  folders stay at the top of the checkout; geotagger/ holds links to them for a checkout's imports and mypy);
- resources/ installs as the package `geotagger_resources` (found by `geotagger.geocore.resources` through
  importlib.resources in every kind of install).
"""

from setuptools import find_packages, setup

NAMESPACE = "geotagger"
CODE_FOLDERS = ("app", "geocore", "trainer")
CODE_PACKAGES = [f"{NAMESPACE}.{name}" for name in find_packages(
    include=[pattern for folder in CODE_FOLDERS for pattern in (folder, f"{folder}.*")])]
# What the app reads at run time; resources/calibration and the build scripts are for building, not shipped.
SHIPPED = ["models/*.geomodel", "models/README.md", "scene/*", "leaflet/*", "leaflet/images/*", "world/*",
           "basemap/*.js", "basemap/*.json", "basemap/LICENSE*", "basemap/README.md", "samples/*.jpg",
           "samples/LICENSES.md", "icons/*", "icons/hicolor/*/apps/*", "desktop/*"]

setup(
    packages=[NAMESPACE, *CODE_PACKAGES, "geotagger_resources"],
    package_dir={NAMESPACE: NAMESPACE, **{f"{NAMESPACE}.{folder}": folder for folder in CODE_FOLDERS},
                 "geotagger_resources": "resources"},
    package_data={"geotagger_resources": SHIPPED, "": ["py.typed"], "geotagger.app.map": ["*.js", "*.css", "*.html"]},
)
