"""PyTorch baseline for `npm run bench:train`: EfficientNet-B0 and its DMP variant, one
Adam training step (batch, resolution and thread count from the command line), the same
architecture as sdk/models (swish, SE on the block input width, BN eps 1e-3, DMP blocks =
the stride-1 blocks with equal input and output width; duplicate = each channel repeated
t times in a row, max-pool over each run of t channels).

Prints one JSON line: {"torch": version, "threads": n, "b0": {"cpu": ms, "wall": ms}, "dmp": {...}, ...}
(median per-step process CPU time and wall time).

With --train (used by `npm run bench:table2 --torch`): trains one variant on IDX files (Fashion-MNIST)
with the project's recipe, see bench/train_torch_fit.py, and prints one JSON line with its test top-1.
"""
import argparse
import json
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print(json.dumps({"error": "torch is not installed for " + sys.executable}))
    sys.exit(0)

# (expand ratio, kernel, stride, output channels, repeats): EfficientNet-B0.
BLOCKS = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


# Which 1x1 convs a replaced block swaps for a parameter-free op: (expansion, projection).
REPLACE = {"baseline": (False, False), "maxpool": (False, True), "duplicate": (True, False), "dmp": (True, True)}


class MBConv(nn.Module):
    def __init__(self, cin, cout, t, k, stride, variant, drop=0.0):
        super().__init__()
        self.drop = drop
        cexp = cin * t
        self.t = t
        self.residual = stride == 1 and cin == cout
        dup, mp = REPLACE[variant] if self.residual and t > 1 else (False, False)
        self.dup, self.mp = dup, mp
        self.expand = None
        if t != 1 and not dup:
            self.expand = nn.Sequential(nn.Conv2d(cin, cexp, 1, bias=False), bn(cexp), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(cexp, cexp, k, stride, k // 2, groups=cexp, bias=False), bn(cexp), nn.SiLU())
        se = max(1, cin // 4)
        self.se1 = nn.Conv2d(cexp, se, 1)
        self.se2 = nn.Conv2d(se, cexp, 1)
        self.project = None if mp else nn.Sequential(nn.Conv2d(cexp, cout, 1, bias=False), bn(cout))

    def forward(self, x):
        h = x
        if self.dup:
            h = torch.repeat_interleave(h, self.t, dim=1)
        elif self.expand is not None:
            h = self.expand(h)
        h = self.dw(h)
        g = torch.sigmoid(self.se2(F.silu(self.se1(h.mean((2, 3), keepdim=True)))))
        h = h * g
        if self.mp:
            n, c, hh, ww = h.shape
            h = h.view(n, c // self.t, self.t, hh, ww).amax(2)
        else:
            h = self.project(h)
        if not self.residual:
            return h
        if self.training and self.drop > 0:
            # Stochastic depth per sample, as the zoo's DropConnect (rate 0.2 * block / blocks).
            keep = (torch.rand(h.shape[0], 1, 1, 1) >= self.drop).to(h.dtype) / (1 - self.drop)
            h = h * keep
        return h + x


class EfficientNet(nn.Module):
    def __init__(self, classes=10, dmp=False, drop_connect=0.0, variant=None, in_ch=3):
        super().__init__()
        variant = variant or ("dmp" if dmp else "baseline")
        layers = [nn.Conv2d(in_ch, 32, 3, 2, 1, bias=False), bn(32), nn.SiLU()]
        cin = 32
        n = sum(b[4] for b in BLOCKS)
        j = 0
        for t, k, s, cout, r in BLOCKS:
            for i in range(r):
                layers.append(MBConv(cin, cout, t, k, s if i == 0 else 1, variant, drop_connect * j / n))
                cin = cout
                j += 1
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), bn(1280), nn.SiLU(),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def bench(dmp, args):
    torch.manual_seed(0)
    model = EfficientNet(10, dmp).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 10, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    wall, cpu = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"cpu": sorted(cpu)[len(cpu) // 2], "wall": sorted(wall)[len(wall) // 2]}, params


def main():
    if "--train" in sys.argv:
        sys.dont_write_bytecode = True  # no bench/__pycache__ in the checkout
        from train_torch_fit import fit_main
        fit_main(EfficientNet)
        return
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    b0, b0_params = bench(False, args)
    rss_b0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dmp, dmp_params = bench(True, args)
    rss_dmp = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Peak RSS is per process: the DMP figure is the peak over both runs.
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "b0": b0, "dmp": dmp,
                      "params": {"b0": b0_params, "dmp": dmp_params}, "rssMB": {"b0": rss_b0, "dmp": rss_dmp}}))


if __name__ == "__main__":
    main()
