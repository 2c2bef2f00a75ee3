"""The lineage columns every raw table ends with (``schemas.LINEAGE``)."""

import pyarrow as pa

LINEAGE = [
    pa.field("source_file", pa.string()),      # path relative to landing/
    pa.field("source_sha256", pa.string()),
    pa.field("batch_id", pa.string()),         # the landing batch folder name
    pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
]
