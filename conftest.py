"""Root pytest configuration: the broker fixtures, and Hypothesis runs that can be replayed.

Two Hypothesis profiles, chosen by the ``CI`` environment variable (``--hypothesis-profile``
still overrides):
- ``ci``: derandomized (every run draws the same examples, so a red CI run is red again on a
  rerun), no deadline (a shared runner's timing is not the code's), no example database (a clean
  clone has none to read), and a failure prints its ``@reproduce_failure`` blob.
- ``dev``: a fresh random seed per run, explored like any Hypothesis run but printed in the
  pytest header, so a failure seen once is replayed with ``--hypothesis-seed=N``.
"""

import os
import random

import pytest
from hypothesis import settings
from hypothesis.errors import InvalidArgument

pytest_plugins = ["iop.pytest_plugin"]

SEED_OPTION = "hypothesis_seed"
PROFILE_OPTION = "hypothesis_profile"

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True, database=None)
settings.register_profile("dev", derandomize=False, print_blob=True)
DEFAULT_PROFILE = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(DEFAULT_PROFILE)


def _profile(config: pytest.Config) -> str:
    return str(config.getoption(PROFILE_OPTION, default=None) or DEFAULT_PROFILE)


def _derandomized(config: pytest.Config) -> bool:
    """Whether the profile this run loads ignores seeds (an unknown name: Hypothesis reports it)."""
    try:
        return bool(settings.get_profile(_profile(config)).derandomize)
    except InvalidArgument:
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Unless the profile is derandomized (``ci``), draw the run's seed here and hand it to
    Hypothesis as if it had been given with ``--hypothesis-seed``: the replay command is then
    exactly the one the header prints. Runs before Hypothesis's own plugin reads that option
    (tryfirst). A forced seed bypasses the example database; the printed seed replaces it."""
    if not _derandomized(config) and config.getoption(SEED_OPTION, default=None) is None:
        setattr(config.option, SEED_OPTION, str(random.SystemRandom().randrange(2**32)))


def pytest_report_header(config: pytest.Config) -> str:
    profile = _profile(config)
    if _derandomized(config):
        return f"hypothesis: profile {profile!r}, derandomized (each test seeded by its own code)"
    seed = config.getoption(SEED_OPTION, default=None)
    return f"hypothesis: profile {profile!r}, seed {seed} (replay: --hypothesis-seed={seed})"
