"""The loopback servers the suite relies on start and answer."""

from tests.conftest import dynamodb_client


def test_moto_and_dynalite_tables(moto_endpoint, dynalite_endpoint, table_factory):
    for endpoint in (moto_endpoint, dynalite_endpoint):
        name = table_factory(endpoint, ttl=endpoint == moto_endpoint)
        assert name in dynamodb_client(endpoint).list_tables()["TableNames"]
