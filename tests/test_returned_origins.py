"""A model's input first read by a helper method that picks its channels apart
and concatenates them again (torchvision's GoogLeNet and Inception v3
``_transform_input``): the helper's result carries the input as its origin
through the return (returned_origins.py), so the first convolution takes the
model's input channels-last, as the contract says; the channel put back with
``unsqueeze(1)`` is a channels-last one (channel_unsqueeze.py).
Each case: torch vs NNX, perturbed weights, eval and nnx.jit."""

from __future__ import annotations

import pytest

from test_layout_forward import parity, rand

TRANSFORM_INPUT = """
    class Stem(nn.Module):
        def __init__(self, transform_input: bool = True):
            super().__init__()
            self.transform_input = transform_input
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)

        def _transform_input(self, x):
            if self.transform_input:
                x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
                x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
                x_ch2 = x[:, 2].unsqueeze(1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
                x = torch.cat((x_ch0, x_ch1, x_ch2), 1)
            return x

        def _forward(self, x):
            return F.relu(self.bn(self.conv(x)))

        def forward(self, x):
            x = self._transform_input(x)
            x = self._forward(x)
            return torch.flatten(F.adaptive_avg_pool2d(x, 2), 1)
"""


@pytest.mark.parametrize("transform_input", [True, False])
def test_channels_picked_apart_by_a_helper(tmp_path, transform_input):
    # an input whose channels differ in scale: a channel read from the wrong axis shows
    x = rand(2, 3, 8, 8) * [[[[1.0]], [[3.0]], [[-2.0]]]]
    result = parity(TRANSFORM_INPUT, tmp_path, "Stem", [x.astype("float32")],
                    kwargs=dict(transform_input=transform_input))
    stem = result.code.split("class Stem")[1]
    # the model takes its input channels-last (before: torch order, transposed for the conv)
    assert "Takes x as (N, H, W, C)" in stem
    assert stem.count("jnp.transpose") == 1  # torch's flattening of the pooled map only
    assert "jnp.expand_dims(x[:, :, :, 0], -1)" in stem
