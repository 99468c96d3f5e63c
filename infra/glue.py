"""The Glue database and table over the events archive, so Athena reads the Parquet files the
archiver writes (ADR 23): `events/date=YYYY-MM-DD/repository=<id>/` in the index bucket.

Partitions are projected, never declared: `date` over a date range up to today, and
`repository` injected (an Athena query names the repository it reads, as in
`WHERE repository = 'github:owner:repo'`), so no crawler or `MSCK REPAIR` is needed and the
archiver needs no Glue permission. The columns are the Parquet schema's
(chalicelib/domain/archive_files.py), in its order.
"""

from __future__ import annotations

from chalicelib.domain.archive_files import GLUE_TYPES
from chalicelib.domain.event_archive import PREFIX
from infra.iam import sub
from infra.plan import Json, StagePlan

DATABASE = "EventsGlueDatabase"
TABLE = "EventsGlueTable"
FIRST_DAY = "2024-01-01"
_PARQUET = "org.apache.hadoop.hive.ql.io.parquet"


def database_name(plan: StagePlan) -> str:
    """Glue and Athena names: lowercase letters, digits and underscores."""
    return plan.prefix.lower().replace("-", "_") + "_events"


def glue_resources(plan: StagePlan, bucket: str) -> Json:
    """The database and table resources; `bucket` is the index bucket's logical id."""
    location = f"s3://${{{bucket}}}/{PREFIX}"
    template = location + "date=${!date}/repository=${!repository}/"  # ${!x}: a literal ${x}
    table_input = {
        "Name": "events",
        "Description": "Strata's repository events, archived by the events archiver",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            "projection.enabled": "true",
            "projection.date.type": "date",
            "projection.date.format": "yyyy-MM-dd",
            "projection.date.range": f"{FIRST_DAY},NOW",
            "projection.date.interval": "1",
            "projection.date.interval.unit": "DAYS",
            "projection.repository.type": "injected",
            "storage.location.template": sub(template),
        },
        "PartitionKeys": [
            {"Name": "date", "Type": "string"},
            {"Name": "repository", "Type": "string"},
        ],
        "StorageDescriptor": {
            "Columns": [{"Name": name, "Type": kind} for name, kind in GLUE_TYPES.items()],
            "Location": sub(location),
            "InputFormat": f"{_PARQUET}.MapredParquetInputFormat",
            "OutputFormat": f"{_PARQUET}.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": f"{_PARQUET}.serde.ParquetHiveSerDe"},
        },
    }
    return {
        DATABASE: {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseInput": {
                    "Name": database_name(plan),
                    "Description": f"Strata {plan.stage}: the events archive",
                },
            },
        },
        TABLE: {
            "Type": "AWS::Glue::Table",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseName": {"Ref": DATABASE},
                "TableInput": table_input,
            },
        },
    }
