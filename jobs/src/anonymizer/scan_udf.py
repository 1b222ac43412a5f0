"""The content scan's pandas UDF, in its own module.

No ``from __future__ import annotations`` here on purpose: pyspark reads the ``pd.Series`` type hints at
definition time to pick the UDF kind, and string annotations of a locally imported pandas cannot be resolved.
"""

from typing import Any

import pandas as pd
from pyspark.sql.pandas.functions import pandas_udf


def detect_udf(region: str) -> Any:
    """Series of values -> Series of ``[{pattern, example}]`` (masked examples only), one Arrow batch at a time."""

    @pandas_udf("array<struct<pattern:string,example:string>>")  # type: ignore[call-overload,untyped-decorator,unused-ignore]  # pyspark types it loosely
    def detect_batch(values: pd.Series) -> pd.Series:
        from anonymizer.detectors import detect

        return values.map(lambda v: [{"pattern": p, "example": e} for p, e in detect(v, region)])

    return detect_batch
