"""Shared by the CLI-driven tests: run an ``edgeact`` command in-process and require success."""

from typer.testing import CliRunner

from edgeact.cli import app

runner = CliRunner()


def cli_ok(args) -> str:
    """Run ``edgeact <args>`` (any path-like arguments are turned into text); its output, or a
    failed assertion showing that output."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output
