#!/usr/bin/env python3
"""PyTorch peer of Visage's training step (src/training/step.ts), for `benchEngine`.

Same network as resnetEmbedding() in src/training/nets/resnet.ts (ResNet-18/34 basic blocks, 7x7/2 stem +
3x3/2 max-pool, global average pool, dense embedding, L2 normalisation), same batch (P identities x K
images), same loss (batch-hard triplet, squared Euclidean distance, margin 0.2, mean over anchors) and
the same optimiser (Adam, lr 1e-3). Prints one JSON object: the median step time (wall clock and process
CPU time) and every step's time.

Usage: torch_train_step.py [--threads N] [--depth 18] [--size 112] [--identities 8] [--per-identity 4]
                           [--steps 5] [--warmup 2]
                           [--net cnn --channels 1 --width 32 --cnn-depth 4]

--net cnn runs smallCnn() of src/training/nets/small-cnn.ts instead (stages of two 3x3 conv -> batch-norm
-> ReLU, 2x2 max-pool between stages, global average pool, dense, L2 normalisation), for `visage bench train`.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResnetEmbedding(nn.Module):
    def __init__(self, depth=18, channels=3, width=64, dim=128):
        super().__init__()
        blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]
        self.conv1 = nn.Conv2d(channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], width
        for stage, n in enumerate(blocks):
            cout = width << stage
            for b in range(n):
                layers.append(BasicBlock(cin, cout, 2 if b == 0 and stage > 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, dim)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layers(x).mean(dim=(2, 3))
        return F.normalize(self.fc(x), dim=1)


class SmallCnn(nn.Module):
    def __init__(self, channels=1, width=32, depth=4, dim=128):
        super().__init__()
        layers, cin = [], channels
        for s in range(depth):
            cout = width * min(8, 1 << s)
            for _ in range(2):
                layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
                cin = cout
            if s < depth - 1:
                layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, dim)

    def forward(self, x):
        return F.normalize(self.fc(self.features(x).mean(dim=(2, 3))), dim=1)


def batch_hard_triplet(emb, labels, margin=0.2):
    d = torch.cdist(emb, emb).pow(2)  # squared Euclidean
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    hardest_pos = d.masked_fill(~same | eye, float("-inf")).max(dim=1).values
    hardest_neg = d.masked_fill(same, float("inf")).min(dim=1).values
    return F.relu(hardest_pos - hardest_neg + margin).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--depth", type=int, default=18)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--identities", type=int, default=8)
    ap.add_argument("--per-identity", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--net", choices=["resnet", "cnn"], default="resnet")
    ap.add_argument("--channels", type=int, default=None)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--cnn-depth", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.net == "cnn":
        channels = a.channels or 1
        model = SmallCnn(channels, a.width, a.cnn_depth).to(memory_format=torch.channels_last)
    else:
        channels = a.channels or 3
        model = ResnetEmbedding(a.depth, channels).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = a.identities * a.per_identity
    x = torch.randn(n, channels, a.size, a.size).to(memory_format=torch.channels_last)
    labels = torch.arange(a.identities).repeat_interleave(a.per_identity)
    model.train()
    times, cpu, losses = [], [], []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = batch_hard_triplet(model(x), labels)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        if i >= a.warmup:
            times.append(dt * 1000)
            cpu.append(dc * 1000)
            losses.append(loss.item())
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": n,
        "size": a.size,
        "depth": a.depth,
        "net": a.net,
        "medianMs": statistics.median(times),
        "medianCpuMs": statistics.median(cpu),
        "stepsMs": times,
        "losses": losses,
    }))


if __name__ == "__main__":
    main()
