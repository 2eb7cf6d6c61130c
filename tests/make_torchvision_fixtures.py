#!/usr/bin/python3
"""Builds one tiny model per torchvision classification family (tests/fixtures/torchvision/).

Each model is made from torchvision 0.14's own building blocks (its ResNet, BasicBlock and
Bottleneck, MobileNetV2/V3, EfficientNet (V1 and V2 configurations), RegNet (X and Y),
ShuffleNetV2, DenseNet, Fire, MNASNet, VGG, AlexNet and GoogLeNet's Inception classes) with
narrow widths and few blocks, so the exported graphs have the ops and patterns the full
models have (grouped and depthwise convolutions, ReLU6 as Clip, HardSwish/HardSigmoid,
SiLU as x * Sigmoid(x), squeeze-excitation's broadcast Mul, channel shuffles as
Reshape/Transpose, chunk as Slice or Split, ReduceMean, Dropout, adaptive pooling) while
the files stay small. Random weights and BatchNorm statistics, eval mode, exported by
torch.onnx at opsets 13 and 17.

Writes, per model NAME: NAME_op13.onnx, NAME_op17.onnx, NAME_input.pb (one random image)
and NAME_logits.pb (PyTorch's logits for it). The test t_torchvision.sh compares sdinfer
with these logits and with onnxruntime; bench/torchvision_models.py does the same for the
full-size models.

Run with Debian's python3-torch, python3-torchvision and python3-onnx:
    /usr/bin/python3 tests/make_torchvision_fixtures.py
"""
import io
import os

import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper
from torchvision.models import (densenet, efficientnet, mnasnet, mobilenetv2, mobilenetv3,
                                regnet, resnet, shufflenetv2, squeezenet, vgg)
from torchvision.models.alexnet import AlexNet
from torchvision.models.googlenet import BasicConv2d, Inception

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torchvision")
CLASSES = 10


class TinyResNet(resnet.ResNet):
    """torchvision's ResNet with an 8-channel stem and two stages of one block each."""

    def __init__(self, block, groups=1, width_per_group=64, widths=(8, 16)):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation = 8, 1
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], 1)
        self.layer2 = self._make_layer(block, widths[1], 1, stride=2)
        self.layer3, self.layer4 = nn.Identity(), nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[1] * block.expansion, CLASSES)


def tiny_efficientnet(arch, stages):
    settings, last = efficientnet._efficientnet_conf(arch, width_mult=0.25, depth_mult=0.25)
    settings = settings[:stages]
    for s in settings:  # one block per stage, narrow: the V2 configurations have no width_mult
        s.num_layers = 1
        s.out_channels = min(s.out_channels, 16)
        s.input_channels = min(s.input_channels, 16)
    return efficientnet.EfficientNet(settings, dropout=0.2, num_classes=CLASSES, last_channel=32)


def tiny_mobilenet_v3(arch):
    settings, _ = mobilenetv3._mobilenet_v3_conf(arch, width_mult=0.25)
    return mobilenetv3.MobileNetV3(settings[:4], last_channel=32, num_classes=CLASSES)


def tiny_regnet(se_ratio):
    params = regnet.BlockParams.from_init_params(depth=3, w_0=8, w_a=8.0, w_m=2.0, group_width=4,
                                                 se_ratio=se_ratio)
    return regnet.RegNet(params, num_classes=CLASSES, stem_width=8)


def tiny_squeezenet():
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        squeezenet.Fire(8, 4, 8, 8), squeezenet.Fire(16, 4, 8, 8),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        nn.Dropout(p=0.5), nn.Conv2d(16, CLASSES, kernel_size=1), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())


def tiny_mnasnet():
    model = mnasnet.MNASNet(alpha=0.25, num_classes=CLASSES)
    # Keep the stem, the first two stacks and the head (1x1 conv, BN, ReLU) narrow.
    layers = list(model.layers)
    stem, stacks = layers[:8], layers[8:10]
    model.layers = nn.Sequential(*stem, *stacks, nn.Conv2d(16, 32, 1, bias=False),
                                 nn.BatchNorm2d(32), nn.ReLU(inplace=True))
    model.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(32, CLASSES))
    return model


def tiny_vgg():
    model = vgg.VGG(vgg.make_layers([8, "M", 16, "M"], batch_norm=True), num_classes=CLASSES,
                    init_weights=True)
    model.classifier = nn.Sequential(nn.Linear(16 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(32, CLASSES))
    return model


def tiny_alexnet():
    model = AlexNet(num_classes=CLASSES)
    model.features = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=5, stride=1, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True))
    model.classifier = nn.Sequential(nn.Dropout(), nn.Linear(16 * 6 * 6, 32), nn.ReLU(True),
                                     nn.Dropout(), nn.Linear(32, 32), nn.ReLU(True),
                                     nn.Linear(32, CLASSES))
    return model


def tiny_googlenet():
    return nn.Sequential(
        BasicConv2d(3, 8, kernel_size=3, padding=1),
        nn.MaxPool2d(3, stride=2, ceil_mode=True),
        Inception(8, 4, 4, 8, 2, 4, 4), Inception(20, 4, 4, 8, 2, 4, 4),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(0.2), nn.Linear(20, CLASSES))


# name -> (constructor, input size); one or more per family of issue 12.
MODELS = {
    "resnet": (lambda: TinyResNet(resnet.BasicBlock), 32),
    "wide_resnet": (lambda: TinyResNet(resnet.Bottleneck, width_per_group=128), 32),
    "resnext": (lambda: TinyResNet(resnet.Bottleneck, groups=4, width_per_group=8,
                                   widths=(16, 32)), 32),
    "mobilenet_v2": (lambda: mobilenetv2.MobileNetV2(
        num_classes=CLASSES, width_mult=0.25,
        inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]), 32),
    "mobilenet_v3_small": (lambda: tiny_mobilenet_v3("mobilenet_v3_small"), 32),
    "mobilenet_v3_large": (lambda: tiny_mobilenet_v3("mobilenet_v3_large"), 32),
    "efficientnet_b0": (lambda: tiny_efficientnet("efficientnet_b0", 4), 32),
    "efficientnet_v2_s": (lambda: tiny_efficientnet("efficientnet_v2_s", 4), 32),
    "regnet_x": (lambda: tiny_regnet(None), 32),
    "regnet_y": (lambda: tiny_regnet(0.25), 32),
    "shufflenet_v2": (lambda: shufflenetv2.ShuffleNetV2([2, 1, 1], [8, 16, 32, 64, 32],
                                                        num_classes=CLASSES), 32),
    "densenet": (lambda: densenet.DenseNet(growth_rate=4, block_config=(2, 2),
                                           num_init_features=8, bn_size=2,
                                           num_classes=CLASSES), 32),
    "squeezenet": (tiny_squeezenet, 32),
    "mnasnet": (tiny_mnasnet, 32),
    "vgg": (tiny_vgg, 28),
    "alexnet": (tiny_alexnet, 24),
    "googlenet": (tiny_googlenet, 32),
}


def randomise(model, generator):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=generator) + 0.5
            m.bias.data = torch.randn(c, generator=generator) * 0.2
            m.running_mean = torch.randn(c, generator=generator) * 0.2
            m.running_var = torch.rand(c, generator=generator) + 0.5
    return model.eval()


def save_tensor(array, path):
    onnx.save_tensor(numpy_helper.from_array(array, os.path.basename(path)), path)


def main():
    os.makedirs(OUT, exist_ok=True)
    for index, (name, (make, size)) in enumerate(MODELS.items()):
        torch.manual_seed(index)
        generator = torch.Generator().manual_seed(100 + index)
        model = randomise(make(), generator)
        x = torch.randn(1, 3, size, size, generator=generator)
        with torch.no_grad():
            logits = model(x)
        for opset in (13, 17):
            buffer = io.BytesIO()
            torch.onnx.export(model, x, buffer, opset_version=opset, input_names=["input"],
                              output_names=["logits"])
            proto = onnx.load_from_string(buffer.getvalue())
            onnx.checker.check_model(proto, full_check=True)
            onnx.save(proto, os.path.join(OUT, "%s_op%d.onnx" % (name, opset)))
        save_tensor(x.numpy(), os.path.join(OUT, name + "_input.pb"))
        save_tensor(logits.numpy(), os.path.join(OUT, name + "_logits.pb"))
        ops = sorted({n.op_type for n in proto.graph.node})
        print("%-20s %s" % (name, " ".join(ops)))


if __name__ == "__main__":
    main()
