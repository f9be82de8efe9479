from tests.activations_fixtures import SECRET_ENV, con, sandbox, secret, warehouse  # noqa: F401
