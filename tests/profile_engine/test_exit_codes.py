"""The CLI maps every class of the batch job's error tree to its exit code and message (one
table), and a refused quality gate still prints the run report before exiting 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from profile_engine import cli, errors, pipeline
from profile_engine.run_report import RunReport

FAILED = "profile-engine {command} failed: {kind}: boom"
EXPECTED: dict[type[Exception], tuple[int, str]] = {
    errors.SettingsError: (2, "profile-engine: bad settings: boom"),
    errors.SegmentFileError: (
        2,
        "profile-engine: bad segment file: boom\nnothing was read or published",
    ),
    errors.InputError: (1, FAILED),
    errors.AlignmentError: (1, FAILED),
    errors.PublishError: (1, FAILED),
    errors.ServedTableError: (1, FAILED),
    errors.NothingServed: (1, FAILED),
    errors.UnreadableFormat: (1, FAILED),
    errors.SegmentNotFound: (1, FAILED),
    errors.RollbackRefused: (2, "profile-engine rollback: refused: boom"),
    errors.GateRefused: (3, "boom"),
    errors.MembershipError: (1, FAILED),
    errors.EngineError: (1, FAILED),
    RuntimeError: (1, FAILED),  # outside the tree: a failure all the same
}


def test_the_tree_is_covered() -> None:
    tree = {
        v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)
    }
    assert tree == {getattr(errors, name) for name in errors.__all__}
    assert tree <= set(EXPECTED)


@pytest.mark.parametrize("command", ["generate", "run"])
@pytest.mark.parametrize("error", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_error_class_maps_to_its_exit_code(
    error: type[Exception],
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail(args: Any) -> int:
        raise error("boom")

    monkeypatch.setattr(cli, f"_{command}", fail)
    code, message = EXPECTED[error]
    assert cli.main([command]) == code
    expected = message.format(command=command, kind=error.__name__) + "\n"
    if code == cli.EXIT_FAILED and command == "run":
        expected += "the served generation was not changed\n"
    assert capsys.readouterr().err == expected


def test_a_refused_gate_prints_the_report_then_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = RunReport(gate="ndcg@10 0.0100 vs served 0.1000: below the floor, not published")
    monkeypatch.setattr(pipeline, "run", lambda settings, force=False: refused)
    assert cli.main(["run"]) == cli.EXIT_GATE == 3
    out, err = capsys.readouterr()
    assert out.startswith("nothing published\n") and "quality     ndcg@10 0.0100" in out
    assert err == "the quality gate stopped the run: the served generation was not changed\n"


def test_export_segment_maps_the_shared_exports_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong field and a missing destination are the caller's to fix (exit 2), found
    before the table is read."""
    common = ["--table", "no-such-table", "--dynamodb-endpoint-url", "http://127.0.0.1:9"]
    code = cli.main(["export-segment", "high_value", "--format", "xlsx",
                     "--to", str(tmp_path), *common])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("profile-engine: bad arguments: format: must be one of")
    code = cli.main(["export-segment", "high_value", "--format", "csv", "--to", "", *common])
    err = capsys.readouterr().err
    assert code == 2 and err == "profile-engine: bad settings: --to is not set: there is no " \
        "export location\n"
