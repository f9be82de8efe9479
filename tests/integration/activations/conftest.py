from tests.activations_fixtures import (  # noqa: F401
    SECRET_ENV,
    any_con,
    any_warehouse,
    con,
    sandbox,
    secret,
    warehouse,
)
