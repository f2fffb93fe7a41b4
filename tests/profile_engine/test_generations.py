"""`profile-engine generations` and `rollback`: the history of the pointer, and a rollback
that refuses generations it cannot serve (unknown, already served, expired) with a clear
message, on a real DynamoDB API (moto and dynalite)."""

from __future__ import annotations

import pytest

from generation import GenerationData
from profile_engine import cli, generations, publish
from profile_engine.errors import RollbackRefused
from tests.conftest import dynamodb_client
from tests.recsvc import seed


def _publish(endpoint: str, table: str, ttl_days: float = 1.0) -> GenerationData:
    data = seed.sample_generation()
    publish.publish(dynamodb_client(endpoint), table, data, ttl_days=ttl_days)
    return data


@pytest.fixture(params=["moto", "dynalite"])
def endpoint(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_endpoint"))


@pytest.fixture
def table(endpoint: str, moto_endpoint: str, table_factory: object) -> str:
    # dynalite has no UpdateTimeToLive; the items carry their expiry attribute all the same.
    return str(table_factory(endpoint, ttl=endpoint == moto_endpoint))  # type: ignore[operator]


def test_history_lists_every_flip_newest_first(endpoint: str, table: str) -> None:
    client = dynamodb_client(endpoint)
    assert generations.list_generations(client, table) == []
    a, b = _publish(endpoint, table), _publish(endpoint, table)
    listed = generations.list_generations(client, table)
    assert [(g.generation, g.served, g.action, g.why_not) for g in listed] == [
        (b.manifest.generation, True, "published", ""),
        (a.manifest.generation, False, "published", ""),
    ]
    assert listed[0].manifest is not None and listed[0].manifest.counts["users"] == seed.N_USERS
    entries, version = generations.history(client, table)
    assert [e.previous for e in entries] == ["", a.manifest.generation] and version == 2

    back = generations.rollback(client, table)
    assert (back.generation, back.previous, back.action) == (
        a.manifest.generation, b.manifest.generation, "rolled back"
    )
    assert publish.current_generation(client, table) == a.manifest.generation
    # And forward again, by name.
    generations.rollback(client, table, to=b.manifest.generation)
    assert publish.current_generation(client, table) == b.manifest.generation
    assert len(generations.history(client, table)[0]) == 4


def test_rollback_refuses_what_it_cannot_serve(endpoint: str, table: str) -> None:
    client = dynamodb_client(endpoint)
    with pytest.raises(Exception, match="serves no generation"):
        generations.rollback(client, table)
    # Items already past their TTL (DynamoDB deletes them within days): not served again.
    old = _publish(endpoint, table, ttl_days=-1)
    new = _publish(endpoint, table)
    listed = {g.generation: g for g in generations.list_generations(client, table)}
    assert "expired" in listed[old.manifest.generation].why_not
    with pytest.raises(RollbackRefused, match="expired"):
        generations.rollback(client, table, to=old.manifest.generation)
    with pytest.raises(RollbackRefused, match="no earlier generation .* can be served"):
        generations.rollback(client, table)
    with pytest.raises(RollbackRefused, match="unknown generation 'nope'"):
        generations.rollback(client, table, to="nope")
    with pytest.raises(RollbackRefused, match="already served"):
        generations.rollback(client, table, to=new.manifest.generation)
    assert publish.current_generation(client, table) == new.manifest.generation


def test_commands_list_and_roll_back(
    moto_endpoint: str, table_factory: object, capsys: pytest.CaptureFixture[str]
) -> None:
    table = table_factory(moto_endpoint)  # type: ignore[operator]
    a, b = _publish(moto_endpoint, table), _publish(moto_endpoint, table)
    where = ["--table", table, "--dynamodb-endpoint-url", moto_endpoint]
    assert cli.main(["generations", *where]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["generation", "last", "change"]
    assert lines[1].startswith(f"* {b.manifest.generation}") and "published" in lines[1]
    assert lines[2].startswith(f"  {a.manifest.generation}") and lines[2].endswith("yes")
    assert "0.3100" in lines[1] and "2 generations (* = served)" in out

    assert cli.main(["rollback", *where]) == 0
    assert f"serving {a.manifest.generation} (was {b.manifest.generation})" in (
        capsys.readouterr().out
    )
    assert cli.main(["rollback", "--to", "nope", *where]) == 2
    err = capsys.readouterr().err
    assert "profile-engine rollback: refused: unknown generation 'nope'" in err
