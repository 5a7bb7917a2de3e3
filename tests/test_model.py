import torch
from conftest import raw_params
from torch import nn

from bnpipe.models import build_model
from bnpipe.models.vgg import VGG
from bnpipe.params import load_params

STACK = load_params(raw_params("paper")).vgg.stack


def test_vgg16_layout_and_output_shape():
    model = VGG(STACK, width=0.125, variant="batchnorm")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(model.blocks) == 13
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 13
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in VGG(STACK, 0.125, "standard").modules())


def test_paper_width_matches_vgg16():
    model = VGG(STACK, width=1.0)
    assert [b.layer.out_channels for b in model.blocks][-1] == 512
    assert model.classifier.in_features == 512
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 14_719_818  # VGG-16 convs (14,714,688 with biases) + 512*10 + 10


def test_glorot_init_statistics():
    model = VGG(STACK, width=1.0, seed=0)
    for layer in (model.blocks[10].layer, model.blocks[0].layer, model.classifier):
        w = layer.weight.detach()
        fan_in = w[0].numel()
        fan_out = w.shape[0] * w[0, 0].numel() if w.dim() == 4 else w.shape[0]
        expected = 2.0 / (fan_in + fan_out)  # Var of U(-b, b) with b = sqrt(6 / (in + out))
        tolerance = 4 * expected * (0.8 / w.numel()) ** 0.5  # ~4 standard errors
        assert abs(w.var().item() - expected) < tolerance, layer
        assert w.abs().max().item() <= (3 * expected) ** 0.5 + 1e-7
        assert torch.count_nonzero(layer.bias) == 0


def test_init_is_a_function_of_the_seed():
    p = load_params(raw_params("smoke"))
    a, b, c = (
        build_model(p.run(i), p)
        for i in ("vgg-standard-lr0.1-s0", "vgg-standard-lr0.1-s0", "vgg-standard-lr0.1-s1")
    )
    assert torch.equal(a.blocks[3].layer.weight, b.blocks[3].layer.weight)
    assert not torch.equal(a.blocks[3].layer.weight, c.blocks[3].layer.weight)
