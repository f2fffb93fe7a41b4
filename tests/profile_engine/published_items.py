"""Every stored item of one published generation, read back with a real DynamoDB client."""

from __future__ import annotations

from typing import Any

from tests.conftest import dynamodb_client


def generation_items(endpoint: str, table: str, generation: str) -> list[dict[str, Any]]:
    client = dynamodb_client(endpoint)
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(pk, :g)",
        "ExpressionAttributeValues": {":g": {"S": f"gen#{generation}"}},
    }
    while True:
        page = client.scan(**kwargs)
        out += page["Items"]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
