"""In-place tensor methods write their receiver: ``buf.copy_(v)`` with ``v`` held
channels-last (a ``(3, 1, 1)`` view of a vector, which the view rule keeps as the
bytes of a channels-last map) brings ``v`` to the buffer's layout. Before, the
receiver was rewritten (``torch_broadcast_cl(self.mean, ...)``) and the write
landed in a temporary: the buffers kept their initial values, silently (timm's
CSATv2 ImageNet mean/std). Torch vs NNX, eval and nnx.jit."""

from __future__ import annotations

from test_layout_forward import parity, rand

NORMALIZE = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer('mean', torch.empty(3, 1, 1), persistent=False)
            self.register_buffer('std', torch.empty(3, 1, 1), persistent=False)
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.reset_parameters()

        def reset_parameters(self):
            self.mean.copy_(torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1))
            self.std.copy_(torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1))

        def _denormalize(self, x):
            return x.mul(self.std).add_(self.mean) * 255

        def forward(self, x):
            x = self._denormalize(x)
            return self.conv(x)
"""


def test_buffer_copied_from_a_channel_view(tmp_path):
    parity(NORMALIZE, tmp_path, "Net", [rand(2, 3, 5, 7)])
