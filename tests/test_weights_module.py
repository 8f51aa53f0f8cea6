"""The weights module is formatted in two parts (the per-file tables through
black, the shared loader once): the result is black's output for the whole."""

from __future__ import annotations

import pytest

from fixture_cases import cases
from torch2nnx.translator.emit import format_code
from torch2nnx.translator.weights import LOADER, SHARED_LOADER, formatted_weights_module, weights_module

import torch2nnx


@pytest.mark.parametrize("line_length", [88, 100])
def test_two_part_formatting_is_black_of_the_whole(line_length):
    for case in cases():
        result = torch2nnx.translate((case / "model.py").read_text(), str(case / "model.py"))
        maps = result.weight_maps
        whole = format_code(weights_module(maps, "model_nnx", "model.py") + "\n\n" + SHARED_LOADER + "\n\n"
                            + LOADER, line_length)
        assert formatted_weights_module(maps, "model_nnx", "model.py", line_length) == whole, case.name
        shared = format_code(weights_module(maps, "model_nnx", "model.py", "._helpers") + "\n\n" + LOADER,
                             line_length)
        assert formatted_weights_module(maps, "model_nnx", "model.py", line_length, "._helpers") == shared
