#!/usr/bin/env bash
# EMR step (runs on the primary node through script-runner.jar): wait for the Dask workers,
# then run the profile job against S3 and the RDS replica, publishing to DynamoDB.
#
# Args: EVENTS_S3_URI REPLICA_SECRET_ID TABLE REGION MIN_WORKERS PUBLISH_MODE IMPORT_STAGING [MEMBERSHIP_S3_URI]
#   MEMBERSHIP_S3_URI: where each generation's segment members go (the console's history).
#   REPLICA_SECRET_ID: Secrets Manager secret whose SecretString is the SQLAlchemy URL of
#   the read replica (postgresql+psycopg://reader:...@replica.host:5432/shop).
#   PUBLISH_MODE: writes, import or auto; IMPORT_STAGING: s3://bucket/prefix of the import
#   files, or "-" when the mode is writes.
set -euo pipefail

EVENTS=${1:?events s3:// uri}
REPLICA_SECRET_ID=${2:?replica secret id}
TABLE=${3:?dynamodb table}
REGION=${4:?aws region}
MIN_WORKERS=${5:-2}
PUBLISH_MODE=${6:-writes}
IMPORT_STAGING=${7:--}
MEMBERSHIP=${8:-}
PREFIX=/opt/shop-recs
SCHEDULER=tcp://localhost:8786

PROFILE_ENGINE_REPLICA_URL=$(aws secretsmanager get-secret-value --region "$REGION" \
    --secret-id "$REPLICA_SECRET_ID" --query SecretString --output text)
export PROFILE_ENGINE_REPLICA_URL
export PROFILE_ENGINE_EVENTS="$EVENTS"
export PROFILE_ENGINE_TABLE="$TABLE"
export PROFILE_ENGINE_SCHEDULER="$SCHEDULER"
export PROFILE_ENGINE_AWS_REGION="$REGION"
export PROFILE_ENGINE_PUBLISH_MODE="$PUBLISH_MODE"
if [ "$IMPORT_STAGING" != "-" ]; then
    export PROFILE_ENGINE_IMPORT_STAGING="$IMPORT_STAGING"
fi
if [ -n "$MEMBERSHIP" ]; then
    export PROFILE_ENGINE_MEMBERSHIP_URL="$MEMBERSHIP"
fi

"$PREFIX/bin/python" - "$SCHEDULER" "$MIN_WORKERS" <<'PY'
import sys
from distributed import Client

with Client(sys.argv[1], timeout=120) as client:
    client.wait_for_workers(int(sys.argv[2]), timeout=900)
    print(f"dask: {len(client.scheduler_info()['workers'])} workers ready")
PY

exec "$PREFIX/bin/profile-engine" run --verbose
