"""Importing the modules of the user's own code that a plan names (factories, imports)."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType


def import_user_module(name: str) -> ModuleType:
    """Import `name`; a module in the working directory is found too, as `python -m` finds it.

    The `wince` command's search path starts at its own script folder, not at the folder it
    runs in, so `factory: "mymodel:build"` beside the plan was not found. The working
    directory is added to the search path (and stays, for the module's own imports) only
    when the module is not found otherwise.

    Raises:
        ImportError: the module cannot be imported.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        here = os.getcwd()
        if error.name != name.split(".")[0] or here in sys.path or "" in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(name)
