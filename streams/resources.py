"""Where the files the bridge reads at run time are: ``connect/`` (Maven pom for Kafka, Kafka
Connect and Debezium; connector configs; DDL; ERP mappings) and ``schemas/`` (Avro).

They live at the top of the source tree, where users and ``docker-compose.yml`` read them. An
installed package (``pip install .``, a wheel, a container image) carries copies under
``streams/_resources/`` (``setup.py`` puts them there when the wheel is built); a checkout or an
editable install reads the tree itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Resource = Literal["connect", "schemas"]

_PACKAGED = Path(__file__).resolve().parent / "_resources"
_CHECKOUT = Path(__file__).resolve().parents[1]


def resource_dir(name: Resource) -> Path:
    """The directory of one resource tree: the packaged copy if there is one, else the checkout's."""
    packaged = _PACKAGED / name
    return packaged if packaged.is_dir() else _CHECKOUT / name


CONNECT_DIR = resource_dir("connect")
SCHEMAS_DIR = resource_dir("schemas")
