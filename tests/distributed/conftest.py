from tests.support.distributed import cluster  # noqa: F401 (fixture)
