"""The CLI tests share the compat tests' keyed server (a bad --api-key must fail with HTTP 401)."""

from tests.compat.conftest import strict_server  # noqa: F401 - a fixture, registered by import
