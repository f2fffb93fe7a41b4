"""Settings for a command: PROFILE_ENGINE_* variables with the command's flags on top."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from profile_engine.errors import SettingsError
from profile_engine.settings import EngineSettings

ENV_PREFIX = "PROFILE_ENGINE_"


def settings_from(overrides: dict[str, Any]) -> EngineSettings:
    """EngineSettings from PROFILE_ENGINE_* with CLI flags on top; errors name the variable."""
    try:
        return EngineSettings.from_env(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            flag = f" (--{field.replace('_', '-')})" if overrides.get(field) is not None else ""
            problems.append(f"{ENV_PREFIX}{field.upper()}{flag}={err.get('input')!r}: {err['msg']}")
        raise SettingsError("; ".join(problems)) from None
