"""File importers for ``kalshibot data import``: generic layouts (``layouts``, ``engine``) and
adapters for known public datasets (``datasets``). See README, "kalshibot data import"."""

from kalshibot.importers.datasets import import_dataset, is_dataset
from kalshibot.importers.engine import import_file
from kalshibot.importers.layouts import LAYOUTS, ImportReport, Issue

__all__ = ["import_dataset", "import_file", "is_dataset", "LAYOUTS", "ImportReport", "Issue"]
