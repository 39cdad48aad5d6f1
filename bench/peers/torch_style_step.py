#!/usr/bin/env python3
"""PyTorch peer of Visage's style-transfer iteration (src/style/transfer.ts), for `visage bench style`.

The network is not re-declared here: it is read from the Visage model folder the bench exports
(model.json + weights.bin, src/engine/graph/serialize.ts) and interpreted node by node with the tfjs
executor's semantics (src/engine/graph/tfjs-executor.ts: NHWC/HWIO there, NCHW/OIHW here, TensorFlow's
'same' padding, fused activations). An op or option this file does not know stops it with an error, so a
new node kind can never be silently mistranslated.

One iteration is what runTransfer does per step with Adam: a random jitter (reflect-padded translation)
of G and of the content image, the content image's features at the content layer for that jitter (no
gradient), G from the (decorrelated colour) pyramid parametrisation, forward to the content and style
taps, J = a*J_content + b*sum_l lambda_l*J_style[l] + g*TV, backward to the pyramid, one Adam step, the
projection into 0..255, the copy of G kept as the best-so-far candidate and the costs read back.

Subcommands (prints one JSON object on stdout):
  run      --dir D [--threads N] [--iterations 5] [--warmup 2] [--check]
           D holds model/ and config.json + the raw float32 images the bench wrote (see src/bench/style.ts).
           --check: J of D/check.f32 and the content-layer tap of the content image, for the bench to
           compare with tfjs' (proves both ran the same network and costs).
  forward  --model M --input X.f32 --shape H,W,C --taps a,b --out O
           Writes O/<tap>.f32 (NHWC float32) for each tap: the interpreter alone (test/bench/style.test.ts).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def fail(msg):
    print(f"torch_style_step.py: {msg}", file=sys.stderr)
    sys.exit(2)


def load_model(d):
    with open(os.path.join(d, "model.json")) as f:
        manifest = json.load(f)
    if manifest.get("format") != "visage-model" or manifest.get("version") != 1:
        fail(f"{d} is not a Visage model (format {manifest.get('format')!r}, version {manifest.get('version')!r})")
    with open(os.path.join(d, "weights.bin"), "rb") as f:
        blob = bytearray(f.read())
    flat = torch.frombuffer(blob, dtype=torch.float32) if blob else torch.zeros(0)
    weights = {}
    for e in manifest["weights"]:
        n = 1
        for s in e["shape"]:
            n *= s
        off = e["offset"] // 4
        weights[e["name"]] = flat[off : off + n].reshape(e["shape"]).clone()
    return manifest["def"], weights


def read_f32(path, shape):
    with open(path, "rb") as f:
        t = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).clone()
    return t.reshape(shape)


def nhwc_to_nchw(x):
    return x.permute(0, 3, 1, 2).contiguous()


def pair(p, default):
    if p is None:
        return (default, default)
    return (p, p) if isinstance(p, int) else (p[0], p[1])


def same_pads(size, k, s, d):
    """TensorFlow 'same': output ceil(size/s), the extra padding pixel goes after (bottom/right)."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def spatial_pads(x, padding, kernel, strides, dilation):
    """(top, bottom, left, right) for a node's padding on input x (NCHW)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        t, b = same_pads(x.shape[2], kernel[0], strides[0], dilation)
        l, r = same_pads(x.shape[3], kernel[1], strides[1], dilation)
        return (t, b, l, r)
    if isinstance(padding, list) and len(padding) == 2:
        (t, b), (l, r) = padding
        return (t, b, l, r)
    fail(f"unknown padding {padding!r}")


def activate(x, fn, alpha=None):
    a = 0.2 if alpha is None else alpha
    if fn is None or fn == "linear":
        return x
    if fn == "relu":
        return F.relu(x)
    if fn == "relu6":
        return F.relu6(x)
    if fn == "leakyRelu":
        return F.leaky_relu(x, a)
    if fn == "sigmoid":
        return torch.sigmoid(x)
    if fn == "tanh":
        return torch.tanh(x)
    if fn == "elu":
        return F.elu(x)
    fail(f"unknown activation {fn!r}")


def node_inputs(n):
    if n["op"] == "input":
        return []
    if n["op"] in ("add", "concat"):
        return n["inputs"]
    return [n["input"]]


class GraphNet:
    """A Visage NetworkDef run by PyTorch, NCHW. Weights are constants (requires_grad False)."""

    KNOWN = {
        "input", "conv2d", "depthwiseConv2d", "batchNorm", "affine", "dense", "activation", "add",
        "concat", "maxPool", "avgPool", "globalAvgPool", "flatten", "pad", "padChannels", "l2normalize",
    }

    def __init__(self, d, weights):
        self.name = d["name"]
        self.nodes = d["nodes"]
        self.by_name = {}
        for n in self.nodes:
            if n["op"] not in self.KNOWN:
                fail(f"node {n['name']!r} of {self.name} has op {n['op']!r}, which this peer does not implement")
            self.by_name[n["name"]] = n
        self.w = {}
        for name, t in weights.items():
            node, role = name.rsplit("/", 1)
            op = self.by_name[node]["op"] if node in self.by_name else None
            if role == "kernel" and op == "conv2d":
                t = t.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
            elif role == "kernel" and op == "depthwiseConv2d":
                kh, kw, cin, mult = t.shape  # [kh, kw, in, mult] -> [in*mult, 1, kh, kw], groups = in
                t = t.permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw).contiguous()
            elif role == "kernel" and op == "dense":
                t = t.t().contiguous()  # [in, out] -> [out, in]
            self.w[name] = t

    def plan(self, taps):
        need, stack = set(), list(taps)
        while stack:
            name = stack.pop()
            if name in need:
                continue
            if name not in self.by_name:
                fail(f"network {self.name} has no layer {name!r}")
            need.add(name)
            stack.extend(node_inputs(self.by_name[name]))
        return [n for n in self.nodes if n["name"] in need]

    def forward(self, x, taps):
        nodes = self.plan(taps)
        uses = {}
        for n in nodes:
            for i in node_inputs(n):
                uses[i] = uses.get(i, 0) + 1
        keep = set(taps)
        values = {}
        for n in nodes:
            ins = [values[i] for i in node_inputs(n)]
            values[n["name"]] = x if n["op"] == "input" else self.apply(n, ins)
            # Drop references as soon as the last consumer ran (autograd keeps what backward needs).
            for i in node_inputs(n):
                uses[i] -= 1
                if uses[i] == 0 and i not in keep:
                    del values[i]
        return {t: values[t] for t in taps}

    def weight(self, node, role):
        key = f"{node}/{role}"
        if key not in self.w:
            fail(f"network {self.name} lacks weight {key!r}")
        return self.w[key]

    def conv(self, n, x, depthwise):
        k = pair(n["kernel"], 1)
        s = pair(n.get("strides"), 1)
        d = n.get("dilation") or 1
        t, b, l, r = spatial_pads(x, n["padding"], k, s, d)
        pad = 0
        if t == b and l == r:
            pad = (t, l)
        else:
            x = F.pad(x, (l, r, t, b))
        w = self.weight(n["name"], "kernel")
        bias = self.weight(n["name"], "bias") if n.get("bias") else None
        groups = x.shape[1] if depthwise else 1
        y = F.conv2d(x, w, bias, s, pad, d, groups)
        return activate(y, n.get("activation"), n.get("alpha"))

    def pool(self, n, x):
        k = pair(n["size"], 1)
        s = pair(n.get("strides"), 1)
        is_max = n["op"] == "maxPool"
        padding = n["padding"]
        t, b, l, r = spatial_pads(x, padding, k, s, 1)
        if padding == "valid" or (t, b, l, r) == (0, 0, 0, 0):
            return F.max_pool2d(x, k, s) if is_max else F.avg_pool2d(x, k, s)
        if padding == "same":
            # TensorFlow's 'same' pooling ignores the padded cells (max over / mean of real cells only).
            if t == b and l == r and t <= k[0] // 2 and l <= k[1] // 2:
                if is_max:
                    return F.max_pool2d(x, k, s, (t, l))
                return F.avg_pool2d(x, k, s, (t, l), count_include_pad=False)
            if is_max:
                return F.max_pool2d(F.pad(x, (l, r, t, b), value=float("-inf")), k, s)
            ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
            total = F.avg_pool2d(F.pad(x, (l, r, t, b)), k, s)
            frac = F.avg_pool2d(F.pad(ones, (l, r, t, b)), k, s)
            return total / frac
        # Explicit padding: the tfjs executor pads with -1e30 (max) or 0 (avg, counted in the mean).
        x = F.pad(x, (l, r, t, b), value=-1e30 if is_max else 0.0)
        return F.max_pool2d(x, k, s) if is_max else F.avg_pool2d(x, k, s)

    def apply(self, n, ins):
        op, name = n["op"], n["name"]
        x = ins[0] if ins else None
        if op == "conv2d":
            return self.conv(n, x, False)
        if op == "depthwiseConv2d":
            return self.conv(n, x, True)
        if op == "batchNorm":
            gamma = None if n.get("scale") is False else self.weight(name, "gamma")
            beta = None if n.get("center") is False else self.weight(name, "beta")
            mean, var = self.weight(name, "mean"), self.weight(name, "variance")
            return F.batch_norm(x, mean, var, gamma, beta, False, 0.0, n["epsilon"])
        if op == "affine":
            shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
            return x * self.weight(name, "scale").reshape(shape) + self.weight(name, "offset").reshape(shape)
        if op == "dense":
            flat = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) if x.dim() == 4 else x
            bias = None if n.get("bias") is False else self.weight(name, "bias")
            return activate(F.linear(flat, self.weight(name, "kernel"), bias), n.get("activation"), n.get("alpha"))
        if op == "activation":
            return activate(x, n["fn"], n.get("alpha"))
        if op == "add":
            y = ins[0]
            for other in ins[1:]:
                y = y + other
            return activate(y, n.get("activation"))
        if op == "concat":
            return torch.cat(ins, 1)
        if op in ("maxPool", "avgPool"):
            return self.pool(n, x)
        if op == "globalAvgPool":
            return x.mean(dim=(2, 3))
        if op == "flatten":
            return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) if x.dim() == 4 else x.reshape(x.shape[0], -1)
        if op == "pad":
            (t, b), (l, r) = n["pads"]
            mode = n.get("mode") or "constant"
            if mode == "constant":
                return F.pad(x, (l, r, t, b))
            if mode == "reflect":
                return F.pad(x, (l, r, t, b), mode="reflect")
            if mode == "symmetric":  # mirror including the edge row/column
                x = torch.cat([x[:, :, :t].flip(2), x, x[:, :, x.shape[2] - b :].flip(2)], 2)
                return torch.cat([x[:, :, :, :l].flip(3), x, x[:, :, :, x.shape[3] - r :].flip(3)], 3)
            fail(f"pad node {name!r}: unknown mode {mode!r}")
        if op == "padChannels":
            return F.pad(x, (0, 0, 0, 0, 0, n["channels"] - x.shape[1]))
        if op == "l2normalize":
            dim = 1
            norm = torch.sqrt(torch.clamp((x * x).sum(dim=dim, keepdim=True), min=n.get("epsilon") or 1e-12))
            return x / norm
        fail(f"node {name!r}: op {op!r} not implemented")


# ---- costs (src/style/costs.ts), NCHW ----


def gram(a):
    _, c, h, w = a.shape
    m = a.reshape(c, h * w)
    return m @ m.t()


def content_cost(ac, ag):
    _, c, h, w = ag.shape
    return ((ac - ag) ** 2).sum() / (4 * h * w * c)


def style_layer_cost(gs, ag):
    _, c, h, w = ag.shape
    return ((gs - gram(ag)) ** 2).sum() / (4 * c * c * (h * w) ** 2)


def total_variation(x):
    _, c, h, w = x.shape
    dy = x[:, :, 1:, :] - x[:, :, :-1, :]
    dx = x[:, :, :, 1:] - x[:, :, :, :-1]
    return ((dy * dy).sum() + (dx * dx).sum()) / (h * w * c)


class Preprocess:
    """y[c] = x[perm[c]] * scale[c] + offset[c] (the bench checks this equals the FeatureNet's preprocess)."""

    def __init__(self, spec):
        self.perm = spec["perm"]
        self.scale = torch.tensor(spec["scale"], dtype=torch.float32).reshape(1, 3, 1, 1)
        self.offset = torch.tensor(spec["offset"], dtype=torch.float32).reshape(1, 3, 1, 1)

    def __call__(self, rgb):
        x = rgb[:, self.perm] if self.perm != [0, 1, 2] else rgb
        return x * self.scale + self.offset


class Objective:
    """Targets and J of prepareTargets/objective in src/style/transfer.ts (one style image, weight 1)."""

    def __init__(self, net, pre, cfg, content, style):
        self.net, self.pre, self.cfg = net, pre, cfg
        if cfg["smoothing"] != "none":
            fail(f"smoothing {cfg['smoothing']!r} is not implemented by this peer")
        self.cl = cfg["contentLayer"]
        names = list(cfg["styleLayers"].keys())
        with torch.no_grad():
            cf = net.forward(pre(content), [self.cl] + names)
            sf = net.forward(pre(style), names)
            self.content = cf[self.cl]
            self.grams, self.lambdas = {}, {}
            for l in names:
                a = sf[l]
                gh, gw = cf[l].shape[2], cf[l].shape[3]
                self.grams[l] = gram(a) * ((gh * gw) / (a.shape[2] * a.shape[3]))
                lam = cfg["styleLayers"][l]
                if lam != 0 and cfg["normalizeStyleLayers"] != "none":
                    _, gc, _, _ = cf[l].shape
                    if cfg["normalizeStyleLayers"] == "gram":
                        norm = float((self.grams[l] ** 2).sum()) / (4 * gc * gc * (gh * gw) ** 2)
                    else:
                        norm = float(style_layer_cost(self.grams[l], cf[l]))
                    if norm > 0:
                        lam /= norm
                self.lambdas[l] = lam
        self.style_layers = [l for l in names if self.lambdas[l] != 0]
        self.taps = list(dict.fromkeys([self.cl] + self.style_layers))

    def __call__(self, g, content_target=None):
        cfg = self.cfg
        feats = self.net.forward(self.pre(g), self.taps)
        jc = content_cost(self.content if content_target is None else content_target, feats[self.cl])
        layers = {l: style_layer_cost(self.grams[l], feats[l]) for l in self.style_layers}
        js = sum(layers[l] * self.lambdas[l] for l in self.style_layers)
        jtv = total_variation(g / 255) if cfg["tvWeight"] > 0 else torch.zeros(())
        j = jc * cfg["contentWeight"] + js * cfg["styleWeight"] + jtv * cfg["tvWeight"]
        return j, jc, js, jtv, layers


# ---- image parametrisation (src/style/image-param.ts) ----

# COLOR_SQRT of image-param.ts (Lucid's square root of ImageNet's colour correlation).
COLOR_SQRT = [[0.26, 0.09, 0.02], [0.27, 0.0, -0.05], [0.27, -0.09, 0.03]]


class PyramidParam:
    def __init__(self, init, levels, decorrelate):
        _, _, self.h, self.w = init.shape
        self.base = init.clone()
        self.color = None
        if decorrelate:
            m = torch.tensor(COLOR_SQRT, dtype=torch.float32)
            m = m / max(float(m[:, j].norm()) for j in range(3))
            self.color = m  # rgb = M @ coords per pixel
        self.variables = []
        for k in range(levels):
            h, w = -(-self.h // 2**k), -(-self.w // 2**k)
            if h < 2 or w < 2:
                break
            self.variables.append(torch.zeros(1, 3, h, w, requires_grad=True))

    def image(self):
        parts = [
            v if k == 0 else F.interpolate(v, size=(self.h, self.w), mode="bilinear", align_corners=False)
            for k, v in enumerate(self.variables)
        ]
        delta = parts[0]
        for p in parts[1:]:
            delta = delta + p
        if self.color is not None:
            delta = torch.einsum("rc,nchw->nrhw", self.color, delta)
        return self.base + delta

    def project(self):
        with torch.no_grad():
            g = self.image()
            self.base = self.base + (g.clamp(0, 255) - g)


class PixelParam:
    def __init__(self, init):
        self.x = init.clone().requires_grad_(True)
        self.variables = [self.x]

    def image(self):
        return self.x

    def project(self):
        with torch.no_grad():
            self.x.clamp_(0, 255)


def shift(x, pad, oy, ox):
    _, _, h, w = x.shape
    return F.pad(x, (pad, pad, pad, pad), mode="reflect")[:, :, oy : oy + h, ox : ox + w]


def cmd_run(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(os.path.join(a.dir, "config.json")) as f:
        cfg = json.load(f)
    d, weights = load_model(os.path.join(a.dir, "model"))
    net = GraphNet(d, weights)
    pre = Preprocess(cfg["preprocess"])
    h, w = cfg["height"], cfg["width"]
    C = nhwc_to_nchw(read_f32(os.path.join(a.dir, "content.f32"), [1, h, w, 3]))
    S = nhwc_to_nchw(read_f32(os.path.join(a.dir, "style.f32"), [1, h, w, 3]))
    obj = Objective(net, pre, cfg, C, S)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "width": w, "height": h}

    if a.check:
        with torch.no_grad():
            G = nhwc_to_nchw(read_f32(os.path.join(a.dir, "check.f32"), [1, h, w, 3]))
            j, jc, js, jtv, _ = obj(G)
            ref = read_f32(os.path.join(a.dir, "tap.f32"), cfg["tapShape"])
            tap = obj.content.permute(0, 2, 3, 1)
            rel = float((tap - ref).abs().max() / ref.abs().max().clamp(min=1e-30))
        out["check"] = {"J": float(j), "Jcontent": float(jc), "Jstyle": float(js), "Jtv": float(jtv), "tapRelDiff": rel}

    # G starts as in runTransfer's default init ('content' + Gaussian noise); its values do not change the cost.
    init = (C + torch.randn(C.shape) * cfg["initNoise"]).clamp(0, 255)
    if cfg["parametrization"] == "pixels":
        param = PixelParam(init)
    else:
        param = PyramidParam(init, cfg["pyramidLevels"], cfg["parametrization"] == "pyramid-decorrelated")
    adam = torch.optim.Adam(param.variables, lr=cfg["learningRate"], betas=(0.9, 0.999), eps=1e-8)
    jit = int(min(cfg["jitter"], (min(w, h) - 1) / 2))
    times, cpu, Js = [], [], []
    for i in range(a.warmup + a.iterations):
        t0, c0 = time.perf_counter(), time.process_time()
        oy = int(torch.randint(0, 2 * jit + 1, ())) if jit else 0
        ox = int(torch.randint(0, 2 * jit + 1, ())) if jit else 0
        with torch.no_grad():
            ct = net.forward(pre(shift(C, jit, oy, ox)), [obj.cl])[obj.cl] if jit else None
            before = param.image().clone()  # the best-so-far candidate runTransfer keeps on the last scale
        adam.zero_grad(set_to_none=True)
        g = param.image()
        j, jc, js, jtv, layers = obj(shift(g, jit, oy, ox) if jit else g, ct)
        j.backward()
        adam.step()
        param.project()
        read = [float(j), float(jc), float(js), float(jtv)] + [float(v) for v in layers.values()]
        del before
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if i >= a.warmup:
            times.append(dt)
            cpu.append(dc)
            Js.append(read[0])
    out.update(
        {
            "secondsPerIteration": statistics.median(times),
            "cpuSecondsPerIteration": statistics.median(cpu),
            "iterationSeconds": times,
            "J": Js,
            # Linux reports kilobytes.
            "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }
    )
    print(json.dumps(out))


def cmd_forward(a):
    torch.set_num_threads(a.threads)
    d, weights = load_model(a.model)
    net = GraphNet(d, weights)
    h, w, c = [int(v) for v in a.shape.split(",")]
    x = nhwc_to_nchw(read_f32(a.input, [1, h, w, c]))
    taps = a.taps.split(",")
    with torch.no_grad():
        outs = net.forward(x, taps)
    os.makedirs(a.out, exist_ok=True)
    shapes = {}
    for t, v in outs.items():
        v = v.permute(0, 2, 3, 1) if v.dim() == 4 else v
        v = v.contiguous()
        shapes[t] = list(v.shape)
        with open(os.path.join(a.out, f"{t}.f32"), "wb") as f:
            f.write(v.numpy().astype("<f4").tobytes())
    print(json.dumps({"torch": torch.__version__, "shapes": shapes}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--dir", required=True)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--iterations", type=int, default=5)
    r.add_argument("--warmup", type=int, default=2)
    r.add_argument("--check", action="store_true")
    f = sub.add_parser("forward")
    f.add_argument("--model", required=True)
    f.add_argument("--input", required=True)
    f.add_argument("--shape", required=True)
    f.add_argument("--taps", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    cmd_run(a) if a.cmd == "run" else cmd_forward(a)


if __name__ == "__main__":
    main()
