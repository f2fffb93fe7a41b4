"""Start the campaign tools' import jobs for an export already in S3 (Pinpoint, SES v2).

Pinpoint's campaign features reached end of support on 2026-10-30, hence SES contact
lists as the second target. One API call each, made with boto3 in a worker thread.
"""

from __future__ import annotations

from typing import Any


def start_pinpoint_import(
    client: Any,
    *,
    application_id: str,
    role_arn: str,
    s3_url: str,
    data_format: str,
    segment_name: str,
) -> str:
    """Import the file as endpoints and define a static segment of them; returns the job id."""
    response = client.create_import_job(
        ApplicationId=application_id,
        ImportJobRequest={
            "DefineSegment": True,
            "Format": data_format,
            "RegisterEndpoints": True,
            "RoleArn": role_arn,
            "S3Url": s3_url,
            "SegmentName": segment_name,
        },
    )
    return str(response["ImportJobResponse"]["Id"])


def start_ses_import(client: Any, *, contact_list: str, s3_url: str, data_format: str) -> str:
    """Upsert the file's contacts into an SES contact list; returns the job id."""
    response = client.create_import_job(
        ImportDestination={
            "ContactListDestination": {
                "ContactListName": contact_list,
                "ContactListImportAction": "PUT",
            }
        },
        ImportDataSource={"S3Url": s3_url, "DataFormat": data_format},
    )
    return str(response["JobId"])
