# The permission sweep's named people (one per role, and "none") and one object of each kind,
# and the API tests' published configuration with a bot key.
from tests.api.conftest import bot_client, document, published  # noqa: F401
from tests.portal.test_permissions import objects, people  # noqa: F401
