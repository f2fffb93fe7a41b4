"""The batch job's one settings object, from PROFILE_ENGINE_* variables (CLI flags override)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from profile_engine import generation_tables
from profile_engine.compute.ranker import RankerParams
from profile_engine.errors import SettingsError
from profile_engine.sources.files import ERROR_PREFIXES, error_prefixes


class EngineSettings(BaseSettings):
    """Inputs, outputs and knobs of `profile-engine run`. AWS credentials come from the
    usual AWS_* variables or the instance role; Dask tuning stays in DASK_* variables."""

    model_config = SettingsConfigDict(env_prefix="PROFILE_ENGINE_", frozen=True, extra="ignore")

    events: str = Field(
        "demo-data/events",
        description="Event log root: local path or s3://bucket/prefix, Hive-partitioned by dt= "
        "and/or written by Amazon Data Firehose (YYYY/MM/DD/HH/ objects, plain or gzip).",
    )
    events_error_prefixes: str = Field(
        ",".join(ERROR_PREFIXES),
        description="Comma-separated folder names below the event root that hold no events "
        "(Firehose's error output, manifests): nothing under them is read. Empty: none.",
    )
    replica_url: str = Field(
        "sqlite:///demo-data/shop.db", description="SQLAlchemy URL of the replica tables."
    )
    table: str = Field("recsvc", min_length=3, description="DynamoDB table to publish to.")
    aws_region: str = Field("us-east-1", description="AWS region of DynamoDB and S3.")
    dynamodb_endpoint_url: str | None = Field(None, description="Unset on AWS.")
    s3_endpoint_url: str | None = Field(None, description="Unset on AWS.")
    scheduler: str | None = Field(
        None, description="tcp://HOST:PORT of an existing Dask scheduler; unset: LocalCluster."
    )
    workers: int = Field(2, ge=1, description="LocalCluster worker processes.")
    worker_memory: str = Field("2GiB", description="LocalCluster memory limit per worker.")
    spill_target: float = Field(
        0.25,
        gt=0,
        le=1,
        description="LocalCluster: share of a worker's memory limit its stored results may "
        "use before they go to disk. Low keeps peak memory flat as the input grows (5M "
        "events, 1.5 GiB workers: 1.18x peak RSS for 4x events) at the cost of disk "
        "writes; Dask's own 0.6 is faster while the data fits. On an existing cluster "
        "set DASK_DISTRIBUTED__WORKER__MEMORY__TARGET instead.",
    )
    keep_freed_memory: bool = Field(
        True,
        description="Workers keep some memory their tasks free (a sixth of the limit, at "
        "most 512 MB) for the next task instead of returning it to the system at once: "
        "faulting it in again cost 12% of the aggregation stages (profile_engine/"
        "worker_memory.py). Not during the trials, whose peak it raised. Set on every "
        "worker of the cluster, for as long as it runs.",
    )
    spill_process: float = Field(
        0.33,
        gt=0,
        le=1,
        description="LocalCluster: share of a worker's memory limit (whole process) past "
        "which stored results are written to disk (Dask's own: 0.7).",
    )
    dashboard: bool = Field(
        False,
        description="Serve the LocalCluster's Dask dashboard on a free port (link in the report).",
    )
    progress: bool | None = Field(
        None,
        description="Print the cluster and dashboard address and one line per stage (seconds, "
        "events/s, peak worker memory) on stderr; unset: only when stderr is a terminal.",
    )
    membership_url: str | None = Field(
        None,
        description="Where each published generation's segment members go, for the console's "
        "history (joined/left since the previous generation): s3://bucket/prefix or a local "
        "directory, one <generation>/<segment>.parquet per segment. Unset: none written, "
        "joined/left not counted.",
    )
    export_recommendations: int = Field(
        4,
        ge=0,
        le=10,
        description="export-segment: recommended products per member in the export (id, "
        "name, price, URLs as template attributes); 0: none.",
    )
    quarantine: str | None = Field(
        None, description="Where malformed event lines are written (path or s3://); unset: dropped."
    )
    ttl_days: float = Field(
        14.0, gt=0, description="Published items expire this long after the run (DynamoDB TTL)."
    )
    as_of: str | None = Field(
        None, description="Reference time for recency (ISO-8601); unset: the newest event."
    )
    neighbours: int = Field(20, ge=1, le=50, description="Item neighbours kept per product.")
    recommendations: int = Field(50, ge=1, le=100, description="Recommendations kept per user.")
    history: int = Field(
        50, ge=2, description="Most recent distinct products per user used for co-occurrence."
    )
    partition_rows: int = Field(
        50_000, ge=1000, description="Rows per partition when reading replica tables."
    )
    segments: str | None = Field(
        None,
        description="TOML file of segment definitions (checked before any work); unset: the "
        "built-in profile_engine/segments.toml.",
    )
    user_partition_rows: int = Field(
        200_000,
        ge=1000,
        description="Input rows (events + order lines) per user partition: a larger input is "
        "cut into more partitions, so a worker's memory does not grow with the input. Smaller "
        "partitions lower a task's memory and cost per-task overhead.",
    )
    publish_from_workers: bool = Field(
        True,
        description="Every worker writes the items of the partitions it holds (the driver "
        "writes the small sections, the manifest and the pointer, last); off: the driver "
        "writes everything, one request at a time. Imports are always staged by the workers.",
    )
    publish_in_flight: int = Field(
        4,
        ge=1,
        le=64,
        description="BatchWriteItem requests each worker keeps in flight while publishing "
        "(25 items each); throttling slows them down (botocore adaptive mode, jittered "
        "retries of unprocessed items).",
    )
    publish_mode: str = Field(
        "writes",
        pattern="^(writes|import|auto)$",
        description="How a generation is published: writes (BatchWriteItem from every worker "
        "into the table), import (the workers stage DynamoDB-JSON gzip files in S3 and one "
        "ImportTable creates a table for the generation; the pointer in the table names "
        "it), or auto (import from import_min_items items on, writes below).",
    )
    import_min_items: int = Field(
        2_000_000,
        ge=1,
        description="auto: a generation of this many items or more (users + segment members "
        "+ neighbour lists + popular lists, known before publishing) is imported. An import "
        "takes minutes however small; at this size writes would too (README: publishing "
        "by import).",
    )
    import_staging: str | None = Field(
        None,
        validate_default=True,
        description="s3://bucket/prefix under which the workers write a generation's import "
        "files (<prefix>/<generation>/...; deleted after a successful import). Required by "
        "publish_mode import and auto.",
    )
    import_timeout_s: float = Field(
        10_800.0,
        gt=0,
        description="Longest wait for an import to complete; past it the run fails and the "
        "served generation stays. A DynamoDB import takes minutes even when small.",
    )
    generation_table_prefix: str | None = Field(
        None,
        description="Name prefix of the tables imported generations get (<prefix><generation>, "
        "letters, digits, _ - . only); unset: '<table>-gen-'.",
    )
    tuning: bool = Field(
        True,
        description="Choose the model per shop on the validation split of its own input (the "
        "ranker's settings and family, or a simple baseline when none of them beats it). Off: "
        "the ranker is served with the ranker_* settings below, unchecked.",
    )
    tuning_budget_s: float = Field(
        120.0,
        ge=0,
        description="Seconds the tuning may take after its first round (each family at its "
        "defaults and every baseline, which always runs): 0 keeps the defaults and the guard.",
    )
    tuning_every_days: float = Field(
        7.0,
        ge=0,
        description="Days the served generation's tuned choice is carried into new runs "
        "without trials (they take the tuning budget); the ranker is still fitted and the "
        "gate still evaluates every run. 0: trials on every run.",
    )
    tuning_max_users: int = Field(
        30_000,
        ge=100,
        description="Users the tuning trials see at most (above it, those whose id hashes "
        "lowest, picked on the workers): bounds the tuning's memory and time on a large shop.",
    )
    ranker_family: str = Field(
        "ease",
        pattern="^(ease|knn)$",
        description="The ranker's model when tuning is off (the tuning tries both): ease "
        "(dense, up to ranker_max_items products) or knn (sparse item-KNN, every product).",
    )
    ranker_lambda: float = Field(
        150.0, gt=0, description="EASE L2 penalty of the ranker (tuned on Online Retail)."
    )
    ranker_max_items: int = Field(
        4000,
        ge=1,
        le=20_000,
        description="Products the ranker models (most users first); bounds its memory to "
        "max_items^2 x 4 bytes. The rest come from the popular fill-up lists.",
    )
    ranker_popularity_weight: float = Field(
        0.2, ge=0, description="Weight of recent popularity blended into the ranker's scores."
    )
    ranker_half_life_days: float = Field(
        120.0, gt=0, description="Age at which a purchase counts half in the ranker's model."
    )
    quality_gate: bool = Field(
        True,
        description="Evaluate the new generation (NDCG@10 on a time split of its input) "
        "before publishing and refuse to publish a clear regression.",
    )
    quality_tolerance: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Largest relative NDCG@10 drop against the served generation that "
        "still publishes (0.1 = 10%).",
    )

    @property
    def error_prefixes(self) -> tuple[str, ...]:
        return error_prefixes(self.events_error_prefixes)

    def ranker_params(self) -> RankerParams:
        return RankerParams(
            lam=self.ranker_lambda,
            gram_half_life_days=self.ranker_half_life_days,
            popularity_weight=self.ranker_popularity_weight,
            max_items=self.ranker_max_items,
            family=self.ranker_family,
        )

    @field_validator("import_staging")
    @classmethod
    def _staging_for_imports(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not (value.startswith("s3://") and value[5:].strip("/")):
            raise ValueError("not an S3 URL: s3://bucket/prefix")
        if value is None and info.data.get("publish_mode") in ("import", "auto"):
            raise ValueError("publish mode import and auto write their files here: set it "
                             "to s3://bucket/prefix")
        return value

    @field_validator("generation_table_prefix")
    @classmethod
    def _table_prefix(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                generation_tables.check_prefix(value)
            except SettingsError as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def generation_tables(self) -> str:
        """The name prefix of imported generations' tables."""
        return self.generation_table_prefix or generation_tables.default_prefix(self.table)

    @field_validator("as_of")
    @classmethod
    def _iso_8601(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("not an ISO-8601 time, e.g. 2026-11-24T00:00:00Z") from None
        return value

    @classmethod
    def from_env(cls, **overrides: object) -> EngineSettings:
        """Read PROFILE_ENGINE_* variables; ``overrides`` (CLI flags) win when not None."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
