"""The parity suite: AWS's documented or recorded answers, asserted against a local cloud
of its own (started on a free port by the same helpers as tests/localcloud)."""

from tests.localcloud.conftest import aws, localcloud, observer, unique  # noqa: F401 - fixtures
