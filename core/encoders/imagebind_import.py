"""Import ImageBind's model code without running ``imagebind/__init__.py``.

The package ``__init__`` imports ``imagebind.data``, which needs pytorchvideo, decord and
pkg_resources; we reproduce that preprocessing ourselves (see ``imagebind_preprocess``) and do
not install them. ``imagebind.models.*`` itself only needs torch, timm, einops, ftfy, regex and
iopath. So when ``imagebind`` is not imported yet, an empty package object pointing at the
installed directory is registered in ``sys.modules`` and only the model submodule is loaded.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _package_spec() -> importlib.machinery.ModuleSpec:
    spec = importlib.util.find_spec("imagebind")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the 'imagebind' package (imagebind-unofficial) is not installed")
    return spec


def imagebind_package_dir() -> Path:
    """Directory of the installed ``imagebind`` package, found without importing it."""
    return Path(next(iter(_package_spec().submodule_search_locations)))


def import_imagebind_model() -> ModuleType:
    """The ``imagebind.models.imagebind_model`` module (``ImageBindModel``, ``imagebind_huge``)."""
    if "imagebind" not in sys.modules:
        # A module object made from the spec but never executed: __path__ without __init__.
        sys.modules["imagebind"] = importlib.util.module_from_spec(_package_spec())
    try:
        return importlib.import_module("imagebind.models.imagebind_model")
    except ImportError as e:
        raise ImportError(
            f"ImageBind model code could not be imported ({e}); it needs torch, timm, einops, "
            "ftfy, regex and iopath"
        ) from e
