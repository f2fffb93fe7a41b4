"""Print the README's settings tables (markdown) from the settings objects themselves."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from profile_engine.settings import EngineSettings
from recsvc.console.settings import ConsoleSettings
from recsvc.settings import Settings


def table(cls: type[BaseSettings]) -> str:
    prefix = cls.model_config.get("env_prefix", "")
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in cls.model_fields.items():
        value = field.default
        if isinstance(value, SecretStr):  # secrets default to empty; never print one
            value = value.get_secret_value() and "(secret)"
        default = "" if value is None else f"`{value}`"
        rows.append(f"| `{prefix}{name.upper()}` | {default} | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print("Service (`recsvc serve`):\n")
    print(table(Settings))
    print("\nConsole (`recsvc console`):\n")
    print(table(ConsoleSettings))
    print("\nProfile job (`profile-engine run`; command-line flags override):\n")
    print(table(EngineSettings))
