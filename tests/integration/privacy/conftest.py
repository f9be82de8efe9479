from tests.integration.quality.conftest import quality_db, quality_template  # noqa: F401
