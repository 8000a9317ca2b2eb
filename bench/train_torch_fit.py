"""The training mode of bench/train_torch.py (`--train`): the recipe of `edge-dmp train` in PyTorch.

Same as the project where practical: Adam lr 0.01 with cosine annealing stepped per optimiser step
(T_max = total steps), cross-entropy, batch 128, dropout 0.2 and stochastic depth 0.2, BN eps 1e-3
momentum 0.01, the project's epoch order (int32 files written by bench/table2.ts), 28x28x1 resized
to 32x32 (bilinear, half-pixel) and replicated to 3 channels, the run's own mean/std, CIFAR-style
crop (zero padding 4 px) + horizontal flip, and "precise BN" (BatchNorm statistics re-estimated
over 20 training batches) before the test evaluation.
Different: the augmentation draws (torch's generator, not the project's Rng), weight
initialisation (PyTorch's defaults, not Keras'), and the crop is a shift before the resize.

Prints one JSON line: {"variant", "top1", "steps", "imgPerSec", "seconds", "torch", "threads", "history"}.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def load_split(d, prefix):
    name = lambda kind: next(os.path.join(d, f) for f in (f"{prefix}-{kind}", f"{prefix}-{kind}.gz")
                             if os.path.exists(os.path.join(d, f)))
    return read_idx(name("images-idx3-ubyte")), read_idx(name("labels-idx1-ubyte")).long()


def prep(imgs, size, mean, std, shift=None, flip=None):
    """uint8 N x H x W -> normalised float N x 3 x size x size (shift/flip: training augmentation)."""
    x = imgs.float().unsqueeze(1)
    if shift is not None:
        pad = 4
        xp = F.pad(x, (pad, pad, pad, pad))
        h, w = x.shape[2:]
        x = torch.stack([xp[i, :, pad + dy:pad + dy + h, pad + dx:pad + dx + w]
                         for i, (dx, dy) in enumerate(shift.tolist())])
    if flip is not None:
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return ((x / 255.0 - mean) / std).expand(-1, 3, -1, -1).contiguous()


def evaluate(model, imgs, labels, a, batch=256):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(imgs), batch):
            logits = model(prep(imgs[i:i + batch], a.size, a.mean, a.std))
            correct += (logits.argmax(1) == labels[i:i + batch]).sum().item()
    return correct / len(imgs)


def precise_bn(model, batches):
    """Running stats = exact average of the batch statistics over `batches` (as the project's preciseBn)."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    with torch.no_grad():
        for x in batches:
            model(x)
    for m, mo in zip(bns, saved):
        m.momentum = mo


def fit_main(EfficientNet):
    p = argparse.ArgumentParser()
    p.add_argument("--train", action="store_true")
    p.add_argument("--variant", default="baseline", choices=["baseline", "maxpool", "duplicate", "dmp"])
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--order-dir", help="epoch orders order-e<k>.i32 from bench/table2.ts (default: torch.randperm)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--mean", type=float, default=0.2860)
    p.add_argument("--std", type=float, default=0.3530)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--precise-bn", type=int, default=20)
    # Ablations for the PyTorch comparison (docs/training.md): tfjs' default initialisation, and
    # the first K epochs of the same schedule (cosine over all --epochs).
    p.add_argument("--init", default="torch", choices=["torch", "keras"])
    p.add_argument("--stop-epoch", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    tr_x, tr_y = load_split(a.data_dir, "train")
    te_x, te_y = load_split(a.data_dir, "t10k")
    model = EfficientNet(10, variant=a.variant, drop_connect=0.2)
    if a.init == "keras":
        # tfjs-layers' defaults, which the project's models keep: Glorot-uniform kernels (tfjs'
        # fans for a depthwise [k,k,C,1] kernel sum to the same 9C+9 as torch's for [C,1,k,k]),
        # zero biases.
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    steps = len(tr_x) // a.batch_size
    total = steps * a.epochs if not a.max_steps else min(steps * a.epochs, a.max_steps)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    step, seen, seconds, history = 0, 0, 0.0, []
    for epoch in range(a.stop_epoch or a.epochs):
        if step >= total:
            break
        path = os.path.join(a.order_dir or "", f"order-e{epoch}.i32")
        if a.order_dir and os.path.exists(path):
            order = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.int32).long()
        else:
            order = torch.randperm(len(tr_x))
        model.train()
        t0 = time.perf_counter()
        loss_sum, n = 0.0, 0
        for s in range(steps):
            if step >= total:
                break
            idx = order[s * a.batch_size:(s + 1) * a.batch_size]
            shift = torch.randint(-4, 5, (len(idx), 2))
            flip = torch.rand(len(idx)) < 0.5
            x = prep(tr_x[idx], a.size, a.mean, a.std, shift, flip)
            loss = F.cross_entropy(model(x), tr_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            n += len(idx)
            step += 1
        dt = time.perf_counter() - t0
        seconds += dt
        seen += n
        if a.precise_bn:
            g = torch.Generator().manual_seed(a.seed + 1000 + epoch)
            perm = torch.randperm(len(tr_x), generator=g)
            # Augmented training batches, as the project's precise-BN pass draws them.
            def bn_batch(k):
                idx = perm[k * a.batch_size:(k + 1) * a.batch_size]
                shift = torch.randint(-4, 5, (len(idx), 2), generator=g)
                return prep(tr_x[idx], a.size, a.mean, a.std, shift, torch.rand(len(idx), generator=g) < 0.5)
            precise_bn(model, (bn_batch(k) for k in range(min(a.precise_bn, steps))))
        top1 = evaluate(model, te_x, te_y, a)
        history.append({"epoch": epoch + 1, "loss": loss_sum / max(1, n), "valTop1": top1, "imgPerSec": n / dt})
        print(json.dumps({"progress": history[-1]}), file=sys.stderr, flush=True)
    print(json.dumps({"variant": a.variant, "init": a.init, "top1": history[-1]["valTop1"], "steps": step,
                      "imgPerSec": seen / max(seconds, 1e-9), "seconds": seconds, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "history": history}))
