from tests.activations_fixtures import *  # noqa: F403  (the fixtures: warehouse, con, any_warehouse, any_con, sandbox, ...)
