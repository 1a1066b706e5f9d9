"""Dataset fingerprints: a content hash of the whole data, its schema, row count, size and statistics.

    >>> from assay.datasets import fingerprint
    >>> profile = fingerprint(df, name="train")            # pandas, polars, numpy, Arrow
    >>> profile = fingerprint("s3://bucket/train.parquet")   # a file or directory, local or fsspec URL
    >>> profile.digest                                       # 'xxh3-128:…', the same in any process

Unlike MLflow's dataset digest, which hashes the first 10,000 rows only, the digest covers every value.
Importing this package loads neither pandas, polars nor pyarrow; each is used only when given its data.
"""

from assay.datasets.fingerprint import fingerprint
from assay.datasets.profile import ColumnSchema, ColumnStats, DatasetProfile

__all__ = ["ColumnSchema", "ColumnStats", "DatasetProfile", "fingerprint"]
