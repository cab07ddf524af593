# The permission sweep's named people (one per role, and "none") and one object of each kind.
from tests.portal.test_permissions import objects, people  # noqa: F401
