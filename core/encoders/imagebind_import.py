"""Import ImageBind's model code without running ``imagebind/__init__.py``.

The package ``__init__`` imports ``imagebind.data``, which needs pytorchvideo, decord and
pkg_resources; we reproduce that preprocessing ourselves (see ``imagebind_preprocess``) and do
not install them. ``imagebind.models.*`` itself only needs torch, timm, einops, ftfy, regex and
iopath. So when ``imagebind`` is not imported yet, an empty package object pointing at the
installed directory is registered in ``sys.modules`` and only the model submodule is loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from types import ModuleType


def imagebind_package_dir() -> Path:
    """Directory of the installed ``imagebind`` package, found without importing it."""
    spec = importlib.util.find_spec("imagebind")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the 'imagebind' package (imagebind-unofficial) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def import_imagebind_model() -> ModuleType:
    """The ``imagebind.models.imagebind_model`` module (``ImageBindModel``, ``imagebind_huge``)."""
    if "imagebind" not in sys.modules:
        package = types.ModuleType("imagebind")
        package.__path__ = [str(imagebind_package_dir())]
        sys.modules["imagebind"] = package
    try:
        return importlib.import_module("imagebind.models.imagebind_model")
    except ImportError as e:
        raise ImportError(
            f"ImageBind model code could not be imported ({e}); it needs torch, timm, einops, "
            "ftfy, regex and iopath"
        ) from e
