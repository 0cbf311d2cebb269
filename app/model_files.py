"""The models the app can choose from: shipped, personal and imported bundles, their cards, importing a file."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from geotagger.geocore.workflow.models import is_personal, shipped_bundles

PERSONAL_PREFIX = "personal-"  # file names of models trained here; being personal is the card's word, not the name


def list_bundles(models_folder: Path) -> list[tuple[str, Path]]:
    """(label, path) of shipped, personal and imported bundles."""
    bundles = [(f"Shipped: {p.name}", p) for p in shipped_bundles()]
    if models_folder.is_dir():
        bundles += [(f"{'Personal' if is_personal(p) else 'Imported'}: {p.name}", p)
                    for p in sorted(models_folder.glob("*.geomodel"))]
    return bundles


def card_text(path: Path) -> str:
    """A readable model card (the card JSON, validated by geocore), or why it cannot be read."""
    from geotagger.geocore.inference.bundle import read_card
    from geotagger.geocore.inference.card import card_to_dict

    # Called on the GUI thread for every row the models dialog selects: read the card alone; the model's
    # checksums are verified when the bundle is loaded to predict.
    try:
        card = read_card(path)
    except Exception as error:  # a broken bundle is shown with its reason, not a crash
        return f"{path.name}: cannot be loaded: {error}"
    return json.dumps(card_to_dict(card), indent=2, ensure_ascii=False)


def import_bundle(path: Path, models_folder: Path) -> Path:
    """Copy an imported .geomodel into the models folder, never over another bundle of the same name."""
    models_folder.mkdir(parents=True, exist_ok=True)
    # "personal-*" names are kept for models trained here, so that a name never suggests what the card denies.
    name = f"imported-{path.name}" if path.name.startswith(PERSONAL_PREFIX) else path.name
    target, number = models_folder / name, 1
    while target.exists() and target.resolve() != path.resolve() and not filecmp.cmp(path, target, False):
        number += 1
        target = models_folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
    if target.resolve() != path.resolve():
        shutil.copy2(path, target)
    return target
