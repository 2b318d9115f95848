"""File loaders of the series areas: UCR/UEA .ts files, and CSV/TSV series read for forecasting (task="forecast")."""

from __future__ import annotations

from . import FILE_LOADERS
from .forecast import load_forecast_table
from .series import load_ts_file

FILE_LOADERS.register(".ts")(load_ts_file)
# "SUFFIX:TASK" keys: data.load() tries them first when the options name that task.
FILE_LOADERS.register(".csv:forecast")(load_forecast_table)
FILE_LOADERS.register(".tsv:forecast")(load_forecast_table)
