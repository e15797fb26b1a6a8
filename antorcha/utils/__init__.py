"""antorcha.utils: data loading (`antorcha.utils.data`)."""

from antorcha.utils import data

__all__ = ["data"]
