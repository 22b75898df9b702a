"""The transfer-learning chapter's workload: fastconv against ONNX Runtime, PyTorch and Keras,
on the same threads, the same weights and the same inputs, in one run.

    python benchmarks/transfer_learning.py [--repeats 5] [--pictures 2000] [--json FILE]
                                           [--networks vgg16 resnet50 mobilenetv2]

1. Inference: VGG16's convolutional base at 180x180, batch 32 (the chapter's feature
   extraction), ResNet50 and MobileNetV2 with their tops at 224x224, batch 16 and batch 1
   (a service answering one request at a time): seconds per batch (median of --repeats after
   a warm-up call) and images per second. fastconv runs ``applications.VGG16`` /
   ``ResNet50`` / ``MobileNetV2``; ONNX
   Runtime an ONNX graph of the same network (NCHW, written here from fastconv's layers, its
   graph optimisations on); PyTorch the same network as torch operations (channels_last and
   NCHW, the faster reported); Keras 3 ``keras.applications`` on its TensorFlow backend. The
   weights are fastconv's random ones, copied into each; every output must agree with
   fastconv's to 1e-4 of its largest value, or the run fails.
2. An epoch of the chapter's second program (frozen VGG16 base inside the model, augmentation
   on, RMSprop) over --pictures drawn pictures of 180x180, fastconv against Keras, each
   through its own image_dataset_from_directory.

Each implementation runs in a process of its own; one missing library is reported, not fatal.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import images_chapter    # benchmarks/images_chapter.py, beside this script: its timer

NETWORKS = {"vgg16": ((180, 180, 3), (32,)), "resnet50": ((224, 224, 3), (16, 1)),
            "mobilenetv2": ((224, 224, 3), (16, 1))}
TITLES = {"vgg16": "VGG16 base, 180x180", "resnet50": "ResNet50 with top, 224x224",
          "mobilenetv2": "MobileNetV2 with top, 224x224"}
IMPLS = ("fastconv", "onnxruntime", "torch", "keras")


def fastconv_network(name):
    from fastconv import applications, utils
    utils.set_random_seed(0)
    if name == "vgg16":
        return applications.VGG16(weights=None, include_top=False, input_shape=(180, 180, 3))
    if name == "mobilenetv2":
        return applications.MobileNetV2(weights=None)
    return applications.ResNet50(weights=None)


def run_order(model):
    """(layer, its input layer names) in the order fastconv runs them."""
    return [(node.layer, [t.node.layer.name for t in node.inputs])
            for node in model._graph.nodes]


def _pads(layer, shape):
    from fastconv._api import padding_amounts
    (t, b), (l, r) = [padding_amounts(s, k, st, layer.padding) for s, k, st in
                      zip(shape[1:3], layer.kernel_size if hasattr(layer, "kernel_size")
                          else layer.pool_size, layer.strides)]
    return [t, l, b, r]


def onnx_model(model):
    """The fastconv model as an ONNX graph on NCHW data."""
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []
    shapes = {model.layers[0].name: model.input_shape}
    first = model.layers[0].name

    def const(name, value):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name
    for layer, sources in run_order(model):
        kind, n, x = type(layer).__name__, layer.name, sources[0]
        shape = shapes[x]
        if kind == "ZeroPadding2D":
            (t, b), (l, r) = layer.padding
            inits.append(numpy_helper.from_array(np.int64([0, 0, t, l, 0, 0, b, r]), n + "_p"))
            nodes.append(helper.make_node("Pad", [x, n + "_p"], [n]))
        elif kind == "Conv2D":
            k = layer.kernel.transpose(3, 2, 0, 1)
            ins = [x, const(n + "_w", k)] + ([const(n + "_b", layer.bias)]
                                             if layer.use_bias else [])
            out = n if layer.activation.name == "linear" else n + "_z"
            nodes.append(helper.make_node("Conv", ins, [out], strides=list(layer.strides),
                                          pads=_pads(layer, shape),
                                          kernel_shape=list(layer.kernel_size)))
            if out != n:
                nodes.append(helper.make_node("Relu", [out], [n]))
        elif kind == "DepthwiseConv2D":
            kh, kw, c, m = layer.kernel.shape
            k = layer.kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
            ins = [x, const(n + "_w", k)] + ([const(n + "_b", layer.bias)]
                                             if layer.use_bias else [])
            nodes.append(helper.make_node("Conv", ins, [n], strides=list(layer.strides),
                                          pads=_pads(layer, shape), group=c,
                                          kernel_shape=[kh, kw]))
        elif kind == "ReLU" and layer.max_value is not None:
            nodes.append(helper.make_node("Clip", [x, const(n + "_lo", np.float32(0)),
                                                   const(n + "_hi", layer.max_value)], [n]))
        elif kind == "BatchNormalization":
            nodes.append(helper.make_node("BatchNormalization", [
                x, const(n + "_g", layer.gamma), const(n + "_be", layer.beta),
                const(n + "_m", layer.moving_mean), const(n + "_v", layer.moving_variance)],
                [n], epsilon=layer.epsilon))
        elif kind == "Activation":
            nodes.append(helper.make_node("Relu", [x], [n]))
        elif kind == "MaxPooling2D":
            nodes.append(helper.make_node("MaxPool", [x], [n], strides=list(layer.strides),
                                          kernel_shape=list(layer.pool_size),
                                          pads=_pads(layer, shape)))
        elif kind == "Add":
            nodes.append(helper.make_node("Add", sources, [n]))
        elif kind == "GlobalAveragePooling2D":
            nodes.append(helper.make_node("GlobalAveragePool", [x], [n + "_g"]))
            nodes.append(helper.make_node("Flatten", [n + "_g"], [n]))
        elif kind == "Dense":
            out = n if layer.activation.name == "linear" else n + "_z"
            nodes.append(helper.make_node("Gemm", [x, const(n + "_w", layer.kernel),
                                                   const(n + "_b", layer.bias)], [out]))
            if out != n:
                nodes.append(helper.make_node("Softmax", [out], [n], axis=-1))
        else:
            raise ValueError(f"no ONNX translation for {kind}")
        shapes[n] = layer.compute_output_shape(shape) if kind != "Add" else shape
    last = model.layers[-1].name
    out_shape = model.output_shape
    if len(out_shape) == 4:
        out_shape = (out_shape[0], out_shape[3], out_shape[1], out_shape[2])
    h, w, c = model.input_shape[1:]
    graph = helper.make_graph(
        nodes, "net", [helper.make_tensor_value_info(first, TensorProto.FLOAT,
                                                     ["n", c, h, w])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["n"] + list(out_shape[1:]))],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def torch_forward(model, layout):
    """A function running the fastconv model's layers as torch operations."""
    import torch
    import torch.nn.functional as F
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    params = {}
    for layer, _ in run_order(model):
        kind = type(layer).__name__
        if kind == "Conv2D":
            params[layer.name] = (torch.from_numpy(layer.kernel.transpose(3, 2, 0, 1).copy())
                                  .contiguous(memory_format=fmt),
                                  torch.from_numpy(layer.bias) if layer.use_bias else None)
        elif kind == "DepthwiseConv2D":
            kh, kw, c, m = layer.kernel.shape
            params[layer.name] = (torch.from_numpy(
                layer.kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw).copy())
                .contiguous(memory_format=fmt),
                torch.from_numpy(layer.bias) if layer.use_bias else None)
        elif kind == "BatchNormalization":
            params[layer.name] = [torch.from_numpy(w.copy()) for w in (
                layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta)]
        elif kind == "Dense":
            params[layer.name] = (torch.from_numpy(layer.kernel.T.copy()),
                                  torch.from_numpy(layer.bias))
    order = run_order(model)
    first = model.layers[0].name

    def forward(x):
        values = {first: x.contiguous(memory_format=fmt)}
        for layer, sources in order:
            kind, v = type(layer).__name__, values[sources[0]]
            if kind == "ZeroPadding2D":
                (t, b), (l, r) = layer.padding
                y = F.pad(v, (l, r, t, b))
            elif kind in ("Conv2D", "DepthwiseConv2D"):
                (t, l, b, r) = _pads(layer, (None,) + tuple(v.shape[2:]) + (None,))
                if (t, l) != (b, r):
                    v, pad = F.pad(v, (l, r, t, b)), 0
                else:
                    pad = (t, l)
                w, bias = params[layer.name]
                y = F.conv2d(v, w, bias, stride=layer.strides, padding=pad,
                             groups=1 if kind == "Conv2D" else v.shape[1])
                if layer.activation.name == "relu":
                    y = F.relu(y)
            elif kind == "BatchNormalization":
                y = F.batch_norm(v, *params[layer.name], training=False, eps=layer.epsilon)
            elif kind == "Activation":
                y = F.relu(v)
            elif kind == "ReLU" and layer.max_value is not None:
                y = F.hardtanh(v, 0.0, layer.max_value)
            elif kind == "MaxPooling2D":
                (t, l, b, r) = _pads(layer, (None,) + tuple(v.shape[2:]) + (None,))
                y = F.max_pool2d(F.pad(v, (l, r, t, b)) if t + l + b + r else v,
                                 layer.pool_size, layer.strides)
            elif kind == "Add":
                y = values[sources[0]] + values[sources[1]]
            elif kind == "GlobalAveragePooling2D":
                y = v.mean(dim=(2, 3))
            elif kind == "Dense":
                y = F.linear(v, *params[layer.name])
                if layer.activation.name == "softmax":
                    y = F.softmax(y, dim=-1)
            else:
                raise ValueError(f"no torch translation for {kind}")
            values[layer.name] = y
        return values[order[-1][0].name]
    return forward


def median_time(call, repeats):
    """Median seconds of repeats calls after one untimed warm-up call."""
    return images_chapter.median_step(call, repeats, warmup=1)


def child(impl, network, batch, repeats, out):
    import fastconv
    threads = fastconv.get_num_threads()
    model = fastconv_network(network)
    rng = np.random.default_rng(1)
    shape = NETWORKS[network][0]
    from fastconv.applications import imagenet_utils
    x = imagenet_utils.preprocess_input(rng.uniform(0, 255, (batch,) + shape))
    x = np.ascontiguousarray(x, np.float32)
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    info = {"threads": threads}
    if impl == "fastconv":
        info["version"] = fastconv.__version__
        info["simd"] = fastconv.simd_path()
        y = model.predict(x, batch_size=batch, verbose=0)
        seconds = median_time(lambda: model.predict(x, batch_size=batch, verbose=0), repeats)
    elif impl == "onnxruntime":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(onnx_model(model).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        info["version"] = ort.__version__
        y = session.run(None, {name: nchw})[0]
        seconds = median_time(lambda: session.run(None, {name: nchw}), repeats)
    elif impl == "torch":
        import torch
        torch.set_num_threads(threads)
        info["version"] = torch.__version__
        best = None
        for layout in ("channels_last", "nchw"):
            forward = torch_forward(model, layout)
            t = torch.from_numpy(nchw)
            with torch.inference_mode():
                y_l = forward(t).numpy()
                s = median_time(lambda: forward(t), repeats)
            if best is None or s < best[0]:
                best = (s, y_l, layout)
        seconds, y, info["layout"] = best
    else:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        info["version"] = f"{keras.__version__} ({keras.backend.backend()})"
        theirs = {"vgg16": lambda: keras.applications.VGG16(weights=None, include_top=False,
                                                            input_shape=shape),
                  "resnet50": lambda: keras.applications.ResNet50(weights=None),
                  "mobilenetv2": lambda: keras.applications.MobileNetV2(weights=None)
                  }[network]()
        for layer in model.layers:
            if layer.weights:
                theirs.get_layer(layer.name).set_weights(layer.get_weights())
        y = np.asarray(theirs.predict_on_batch(x))
        seconds = median_time(lambda: theirs.predict_on_batch(x), repeats)
    if y.ndim == 4 and impl in ("onnxruntime", "torch"):
        y = y.transpose(0, 2, 3, 1)
    want = model.predict(x, batch_size=batch, verbose=0)
    error = float(np.abs(y - want).max() / np.abs(want).max())
    info.update(seconds=seconds, error=error)
    with open(out, "w") as f:
        json.dump(info, f)


def epoch_child(impl, folder, out):
    """One epoch of the chapter's second program (frozen VGG16, augmentation) on folder."""
    if impl == "fastconv":
        from fastconv import applications, layers, models, utils
        from fastconv.utils import image_dataset_from_directory
        version = __import__("fastconv").__version__
        utils.set_random_seed(0)
    else:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        from keras import applications, layers, models
        from keras.utils import image_dataset_from_directory
        version = f"{keras.__version__} ({keras.backend.backend()})"
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            import fastconv
            tf.config.threading.set_intra_op_parallelism_threads(fastconv.get_num_threads())
    train = image_dataset_from_directory(folder, image_size=(180, 180), batch_size=32)
    conv_base = applications.vgg16.VGG16(weights=None, include_top=False)
    conv_base.trainable = False
    augmentation = models.Sequential([layers.RandomFlip("horizontal"),
                                      layers.RandomRotation(0.1), layers.RandomZoom(0.2)])
    inputs = layers.Input(shape=(180, 180, 3))
    x = applications.vgg16.preprocess_input(augmentation(inputs))
    x = layers.Flatten()(conv_base(x))
    x = layers.Dropout(0.5)(layers.Dense(256)(x))
    model = models.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(train, epochs=1, verbose=0)
    with open(out, "w") as f:
        json.dump({"seconds": time.perf_counter() - start, "version": version}, f)


def spawn(args, out):
    try:
        subprocess.run([sys.executable, __file__] + args + ["--out", out], check=True,
                       stdout=sys.stderr, stderr=sys.stderr, timeout=3600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print(f"({' '.join(args)}: failed: {e})", file=sys.stderr)
        return None
    with open(out) as f:
        return json.load(f)


def run(repeats, pictures, networks=tuple(NETWORKS)):
    folder = tempfile.mkdtemp()
    results = {"inference": [], "epoch": []}
    for network in networks:
        batches = NETWORKS[network][1]
        for batch in batches:
            for impl in IMPLS:
                r = spawn(["--child", impl, network, str(batch), str(repeats)],
                          os.path.join(folder, "r.json"))
                if r is not None:
                    if r["error"] > 1e-4:
                        raise SystemExit(f"{impl} {network}: output differs from fastconv's "
                                         f"by {r['error']:.2e} of its largest value")
                    results["inference"].append(dict(r, impl=impl, network=network,
                                                     batch=batch))
    if pictures:
        from fastconv.examples import drawn_images
        data = os.path.join(folder, "pictures")
        drawn_images.write_folder(data, count=pictures // 2, size=180, seed=0,
                                  formats=("jpg",))
        for impl in ("fastconv", "keras"):
            r = spawn(["--epoch", impl, data], os.path.join(folder, "e.json"))
            if r is not None:
                results["epoch"].append(dict(r, impl=impl, pictures=pictures))
    return results


def table(results):
    """The Markdown tables of run()'s results."""
    lines = ["| network, batch | " + " | ".join(IMPLS) + " |",
             "|---|" + "---:|" * len(IMPLS)]
    rows = {}
    for r in results["inference"]:
        rows.setdefault((r["network"], r["batch"]), {})[r["impl"]] = r
    for (network, batch), by_impl in rows.items():
        base = by_impl.get("fastconv", {}).get("seconds")
        cells = []
        for impl in IMPLS:
            r = by_impl.get(impl)
            if r is None:
                cells.append("-")
                continue
            s = r["seconds"]
            unit = f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"
            ratio = f" ({s / base:.2f}x)" if base and impl != "fastconv" else ""
            cells.append(f"{unit}, {batch / s:.1f} img/s{ratio}")
        lines.append(f"| {TITLES[network]}, {batch} | " + " | ".join(cells) + " |")
    versions = {r["impl"]: r.get("version") for r in results["inference"]}
    lines.append("")
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) +
                 "; in brackets: time / fastconv's time.")
    if results["epoch"]:
        lines += ["", "| an epoch of the second program | seconds | pictures/s |",
                  "|---|---:|---:|"]
        for r in results["epoch"]:
            lines.append(f"| {r['impl']} {r['version']} | {r['seconds']:.1f} | "
                         f"{r['pictures'] / r['seconds']:.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pictures", type=int, default=2000,
                        help="pictures for the epoch (0: no epoch)")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS),
                        default=list(NETWORKS), help="the networks to run (default: all)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--epoch", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        impl, network, batch, repeats = args.child
        child(impl, network, int(batch), int(repeats), args.out)
        return
    if args.epoch:
        epoch_child(*args.epoch, args.out)
        return
    import fastconv
    results = run(args.repeats, args.pictures, args.networks)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    simd = next((r.get("simd") for r in results["inference"] if r["impl"] == "fastconv"), "?")
    print(f"fastconv {fastconv.__version__}, SIMD path {simd}, "
          f"{fastconv.get_num_threads()} threads\n")
    print(table(results))


if __name__ == "__main__":
    main()
