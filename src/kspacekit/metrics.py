"""Alias of :mod:`kspacekit.evaluation.metrics`: the public path ``kspacekit.metrics`` keeps working."""

import sys

from kspacekit.evaluation import metrics as _metrics

sys.modules[__name__] = _metrics
