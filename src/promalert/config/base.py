"""Base of every config model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    secret_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        """Replace ``<secret>_file`` keys with the file's content (trailing newline dropped)."""
        if not isinstance(data, dict) or not cls.secret_fields:
            return data
        base = Path((info.context or {}).get("base_dir", "."))
        out = dict(data)
        for name in cls.secret_fields:
            key = f"{name}_file"
            if key not in out:
                continue
            if name in out:
                raise ValueError(f"give '{name}' or '{key}', not both")
            file = Path(str(out.pop(key)))
            file = file if file.is_absolute() else base / file
            try:
                out[name] = file.read_text().rstrip("\n")
            except OSError as exc:
                raise ValueError(f"{key}: cannot read {file}: {exc.strerror}") from None
        return out
