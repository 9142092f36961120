"""Shared fixtures: a private cache directory per test."""

from __future__ import annotations

from pathlib import Path

import pytest

import kiln


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    d = tmp_path / "kiln-cache"
    return d


@pytest.fixture
def compiler(cache_dir: Path) -> kiln.Compiler:
    return kiln.Compiler(cache_dir=cache_dir)
