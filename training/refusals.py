"""A fit a library refused because of the configured params, said as such.

LightGBM checks its parameters' values only when it fits, in C++: `num_leaves: -1` in a model's YAML was an
"unexpected LightGBMError" with a path into LightGBM's sources, after the data had been read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from spend.core.errors import SpendError, first_line
from spend.core.registry import ModelSpec

LIBRARIES = {"lightgbm": "LightGBM", "sklearn": "scikit-learn", "statsforecast": "statsforecast"}
# LightGBM's words for a parameter, where its message does not use the scikit-learn name
ALIASES = {"boosting rounds": "n_estimators", "min_data_in_leaf": "min_child_samples"}


@contextmanager
def params_refused(model: ModelSpec, params: dict) -> Iterator[None]:
    """A fit a library refused, as one error without the library's source path; naming the params its
    message names (LightGBM checks values only when it fits: num_leaves -1 was an unexpected LightGBMError
    with a path into LightGBM's C++). A refusal that names none (the data's, say) blames no param."""
    try:
        yield
    except SpendError:
        raise
    except Exception as error:
        library = raised_in(error)
        if library is None:
            raise
        logging.getLogger(__name__).warning("%s: %s refused the fit", model.name, library, exc_info=True)
        text = re.sub(r" at /\S+, line \d+ \.?", "", first_line(error)).strip()
        said = text + "".join(f" {name}" for words, name in ALIASES.items() if words in text)
        named = [k for k in params if k in said]
        if not named:
            raise SpendError(f"{model.name}: {library} refused the fit: {text}") from error
        given = ", ".join(f"{k}={params[k]}" for k in named)
        raise SpendError(f"{model.name}.yaml: params ({given}): {library} refused the fit: {text}") from error


def raised_in(error: BaseException) -> str | None:
    """The library whose code raised `error` (the innermost frame of its traceback), if one of LIBRARIES."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
    return next((label for name, label in LIBRARIES.items() if f"/{name}/" in path), None)
