"""The docstrings' examples, run against the installed package."""

import doctest

import pytest

import bprop
import bprop._estimators


@pytest.mark.parametrize("module", [bprop, bprop._estimators], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
