"""Build hook: the wheel carries ``connect/`` and ``schemas/`` as ``streams/_resources/``.

Everything else is declared in ``pyproject.toml``. The two trees stay at the top of the source
tree (users and ``docker-compose.yml`` read them there); ``streams/resources.py`` finds the
packaged copies in an installed package and the tree itself in a checkout or editable install.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RESOURCES = ("connect", "schemas")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree
        for name in RESOURCES:
            shutil.copytree(ROOT / name, Path(self.build_lib) / "streams" / "_resources" / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "target"))


setup(cmdclass={"build_py": BuildWithResources})
