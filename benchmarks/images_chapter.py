"""The images chapter's convnet (150x150x3, batch 20), fastconv against PyTorch, in one run;
and the image loader's throughput against what the training step consumes.

    python benchmarks/images_chapter.py [--steps 20] [--images 1000] [--json FILE]

1. Training step: ``train_on_batch`` on one batch of 20 pictures, the network of
   ``fastconv train-images`` (four Conv2D + MaxPooling2D blocks, Dropout, Dense 512, a sigmoid
   output, binary cross-entropy, RMSprop), without and with the augmentation layers (RandomFlip,
   RandomRotation, RandomZoom); PyTorch runs the same network (NCHW and channels_last, without
   augmentation: it has no such layers without torchvision) with BCEWithLogitsLoss and
   RMSprop, on as many threads as fastconv uses. Median of --steps steps after 3 warm-up ones,
   each implementation in its own process.
2. Epoch: ``fit`` over a drawn folder of --images pictures (400x400 JPEGs, resized to 150x150)
   through ``image_dataset_from_directory``, with augmentation, against PyTorch's DataLoader
   (2 worker processes decoding and resizing with Pillow, as a PyTorch user without
   torchvision writes it) feeding the same network without augmentation.
3. Loader: pictures per second that image_dataset_from_directory decodes and resizes on its
   own (no training), and that the three augmentation layers process, against the training
   step's pictures per second.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZE, BATCH = 150, 20


def fastconv_model(augment):
    from fastconv.examples.images import build_model
    return build_model(SIZE, 2, augment)


def batch(rng):
    return (rng.uniform(0, 255, (BATCH, SIZE, SIZE, 3)).astype(np.float32),
            rng.integers(0, 2, BATCH).astype(np.float32))


def median_step(step, steps, warmup=3):
    """Median seconds of steps calls of step(), after warmup untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def torch_network(layout):
    import torch
    from torch import nn
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    blocks, channels = [], 3
    for filters in (32, 64, 128, 128):
        blocks += [nn.Conv2d(channels, filters, 3), nn.ReLU(), nn.MaxPool2d(2)]
        channels = filters
    net = nn.Sequential(nn.Identity(), *blocks, nn.Flatten(), nn.Dropout(0.5),
                        nn.Linear(128 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, 1))
    net = net.to(memory_format=fmt)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
    return net, opt, nn.BCEWithLogitsLoss(), fmt


def child_step(impl, steps):
    import fastconv
    threads = fastconv.get_num_threads()
    rng = np.random.default_rng(0)
    x, y = batch(rng)
    if impl.startswith("fastconv"):
        model = fastconv_model(augment=impl.endswith("+augment"))
        seconds = median_step(lambda: model.train_on_batch(x, y), steps)
    else:
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        net, opt, loss_fn, fmt = torch_network(impl.split(":")[1])
        xt = torch.from_numpy(x / 255).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
        yt = torch.from_numpy(y).reshape(-1, 1)

        def step():
            opt.zero_grad()
            loss = loss_fn(net(xt), yt)
            loss.backward()
            opt.step()
        seconds = median_step(step, steps)
    return {"impl": impl, "threads": threads, "step_seconds": seconds,
            "images_per_second": BATCH / seconds}


def child_epoch(impl, folder):
    import fastconv
    threads = fastconv.get_num_threads()
    if impl == "fastconv+augment":
        from fastconv.utils import image_dataset_from_directory
        ds = image_dataset_from_directory(folder, image_size=(SIZE, SIZE), batch_size=BATCH,
                                          label_mode="binary", seed=1, verbose=False)
        model = fastconv_model(augment=True)
        model.fit(iter(ds.take(3)), verbose=0)            # warm-up
        start = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
        count = len(ds.file_paths)
    else:
        import torch
        from PIL import Image
        torch.set_num_threads(threads)
        net, opt, loss_fn, fmt = torch_network(impl.split(":")[1])
        classes = sorted(os.listdir(folder))
        files = [(os.path.join(folder, c, f), i) for i, c in enumerate(classes)
                 for f in sorted(os.listdir(os.path.join(folder, c)))]

        class Pictures(torch.utils.data.Dataset):
            def __len__(self):
                return len(files)

            def __getitem__(self, k):
                path, label = files[k]
                with Image.open(path) as img:
                    img = img.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
                    a = np.asarray(img, dtype=np.float32) / 255
                return torch.from_numpy(a).permute(2, 0, 1), torch.tensor([float(label)])
        loader = torch.utils.data.DataLoader(Pictures(), batch_size=BATCH, shuffle=True,
                                             num_workers=2, persistent_workers=True)

        def epoch(limit=None):
            for k, (xb, yb) in enumerate(loader):
                if limit is not None and k == limit:
                    break
                opt.zero_grad()
                loss = loss_fn(net(xb.contiguous(memory_format=fmt)), yb)
                loss.backward()
                opt.step()
        epoch(limit=3)                                # warm-up
        start = time.perf_counter()
        epoch()
        seconds = time.perf_counter() - start
        count = len(files)
    return {"impl": impl, "threads": threads, "epoch_seconds": seconds, "images": count}


def child_loader(folder):
    from fastconv import layers
    from fastconv.utils import image_dataset_from_directory
    ds = image_dataset_from_directory(folder, image_size=(SIZE, SIZE), batch_size=BATCH,
                                      verbose=False)
    ds.take(2)
    start = time.perf_counter()
    count = sum(len(x) for x, _ in ds)
    decode = count / (time.perf_counter() - start)
    x, _ = batch(np.random.default_rng(0))
    augment = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
               layers.RandomZoom(0.2)]

    def run():
        z = x
        for layer in augment:
            z = layer(z, training=True)
    augment_rate = BATCH / median_step(run, 20)
    return {"decode_resize_per_second": decode, "augment_per_second": augment_rate,
            "workers": ds._workers}


def run_child(args):
    done = subprocess.run([sys.executable, os.path.abspath(__file__)] + args,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--images", type=int, default=1000, help="pictures for the epoch")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, rest = args.child[0], args.child[1:]
        result = (child_step(rest[0], args.steps) if kind == "step" else
                  child_epoch(rest[0], rest[1]) if kind == "epoch" else child_loader(rest[0]))
        print(json.dumps(result))
        return
    try:
        import torch  # noqa: F401
        torch_impls = ["torch:nchw", "torch:channels_last"]
    except ImportError:
        print("(PyTorch not installed: fastconv only)", file=sys.stderr)
        torch_impls = []
    results = {"step": [], "epoch": []}
    for impl in ["fastconv", "fastconv+augment"] + torch_impls:
        results["step"].append(run_child(["--steps", str(args.steps), "--child", "step", impl]))
    with tempfile.TemporaryDirectory() as tmp:
        from fastconv.examples.drawn_images import write_folder
        write_folder(tmp, count=args.images // 2, size=400, seed=0, formats=("jpg",))
        results["loader"] = run_child(["--child", "loader", tmp])
        for impl in ["fastconv+augment"] + torch_impls[1:]:
            results["epoch"].append(run_child(["--child", "epoch", impl, tmp]))
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def table(results):
    base = results["step"][0]["step_seconds"]
    lines = ["| training step, batch 20 at 150x150x3 | ms per step | pictures/s |",
             "|---|---:|---:|"]
    for r in results["step"]:
        ratio = "" if r["impl"] == "fastconv" else f" ({r['step_seconds'] / base:.2f}x)"
        lines.append(f"| {r['impl']} | {r['step_seconds'] * 1e3:.0f}{ratio} | "
                     f"{r['images_per_second']:.0f} |")
    if results["epoch"]:
        lines += ["", "| epoch over a folder of JPEGs (400x400 -> 150x150) | s | pictures/s |",
                  "|---|---:|---:|"]
        for r in results["epoch"]:
            lines.append(f"| {r['impl']} | {r['epoch_seconds']:.1f} | "
                         f"{r['images'] / r['epoch_seconds']:.0f} |")
    loader = results.get("loader")
    if loader:
        need = max(r["images_per_second"] for r in results["step"]
                   if r["impl"].startswith("fastconv"))
        per_batch = BATCH / loader["decode_resize_per_second"]
        augment = BATCH / loader["augment_per_second"]
        lines += ["", f"loader: {loader['decode_resize_per_second']:.0f} pictures/s decoded "
                      f"and resized ({loader['workers']} threads), {per_batch * 1e3:.0f} ms a "
                      f"batch of {BATCH}; augmentation {loader['augment_per_second']:.0f} "
                      f"pictures/s, {augment * 1e3:.0f} ms a batch; the training step takes "
                      f"{need:.0f} pictures/s ({BATCH / need * 1e3:.0f} ms a batch)"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
