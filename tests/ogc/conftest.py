"""OGC tests run with a small advertised page maximum so that paging is exercised."""

from __future__ import annotations

import pytest

from service.settings import ApiSettings, Settings

MAX_LIMIT = 40


@pytest.fixture
def settings(settings: Settings) -> Settings:
    api = ApiSettings(max_upload_mb=5, ogc_default_limit=10, ogc_max_limit=MAX_LIMIT)
    return settings.model_copy(update={"api": api})
