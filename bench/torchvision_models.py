#!/usr/bin/python3
"""sdinfer on torchvision's classification CNNs: writes infer/MODELS.md.

For every model (torchvision 0.14, random weights, eval mode) and opset: export with
torch.onnx, run the same random input through PyTorch, onnxruntime-node and sdinfer,
compare the logits (pass: max |sdinfer - PyTorch| and max |sdinfer - onnxruntime| both
<= 1e-4 * max(1, max |PyTorch logit|), and the same argmax), then time batch 1 in
sdinfer (--bench) and onnxruntime (bench/ort_infer.js) with the same thread count.
MODELS.md is generated, never edited by hand: `make models-md` (slow: not in make test).

  /usr/bin/python3 bench/torchvision_models.py [--models a,b] [--families f,g] [--size 224]
        [--opsets 13,17] [--runs 20] [--threads 2] [--out infer/MODELS.md] [--work DIR]
        [--resume]  (keep --out's passing rows, run only the other models)

Needs Debian's python3-torch, python3-torchvision, python3-onnx, build/bin/sdinfer and
tests/node/node_modules/onnxruntime-node (tools/deps.sh).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SDINFER = os.path.join(ROOT, os.environ.get("SD_BIN", "build/bin"), "sdinfer")
TOL = 1e-4

# The families of issue 12 (the classification CNNs); ConvNeXt, ViT, Swin and MaxViT are
# transformer-style models with LayerNorm/attention, not covered here.
FAMILIES = {
    "resnet": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
    "wide_resnet": ["wide_resnet50_2", "wide_resnet101_2"],
    "resnext": ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"],
    "mobilenet": ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"],
    "efficientnet": ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
                     "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
                     "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"],
    "regnet": ["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
               "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf", "regnet_y_400mf",
               "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
               "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf"],
    "shufflenet": ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                   "shufflenet_v2_x2_0"],
    "densenet": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "squeezenet": ["squeezenet1_0", "squeezenet1_1"],
    "mnasnet": ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"],
    "vgg": ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"],
    "alexnet": ["alexnet"],
    "googlenet": ["googlenet", "inception_v3"],
}


def save_tensor(array, path):
    onnx.save_tensor(numpy_helper.from_array(np.ascontiguousarray(array, np.float32)), path)


def load_tensor(path):
    return numpy_helper.to_array(onnx.load_tensor(path))


def make_model(name):
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    model = torchvision.models.get_model(name, **kwargs)
    torch.manual_seed(0)
    for m in model.modules():  # random BN statistics, so folding is exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def run(cmd, timeout):
    # OpenMP threads that wait sleep instead of spinning (as tests/run.sh): on a machine whose
    # cores are busy with other work, spinning made sdinfer's batch 1 twenty times slower here.
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return done.returncode, done.stdout + done.stderr


def last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def images_per_second(text):
    found = re.search(r"^images/s: ([0-9.]+)", text, re.M)
    return float(found.group(1)) if found else None


def external_files(path):
    """The external data files the model's tensors name (relative to its directory)."""
    model = onnx.load(path, load_external_data=False)
    tensors = list(model.graph.initializer) + [
        a.t for n in model.graph.node for a in n.attribute if a.HasField("t")]
    return sorted({e.value for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL
                   for e in t.external_data if e.key == "location"})


def check_one(name, opset, size, args, work):
    """One model at one opset, exported into a folder of its own: torch.onnx.export writes
    a model over protobuf's 2 GiB limit (regnet_y_128gf) with its tensors in external data
    files next to the model file, where sdinfer and onnxruntime look for them. The folder,
    data files included, is removed afterwards."""
    folder = os.path.join(work, f"{name}_op{opset}")
    os.makedirs(folder, exist_ok=True)
    try:
        result = check_in(folder, name, opset, size, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.get("external_files"):
        note = "tensors in %d external data files" % result["external_files"]
        result["note"] = note + ("; " + result["note"] if result["note"] else "")
    return result


def check_in(work, name, opset, size, args):
    """check_one's work in its folder: a result dict (status, diffs, speeds, note)."""
    result = {"model": name, "opset": opset, "status": "fail", "note": ""}
    model = make_model(name)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(x).numpy()
    path = os.path.join(work, f"{name}_op{opset}.onnx")
    try:
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"],
                          output_names=["logits"])
    except Exception as error:  # the exporter's own refusal: recorded, not ours
        result.update(status="no export", note=str(error).splitlines()[0][:160])
        return result
    del model
    result["external_files"] = len(external_files(path))
    inp, sd_out, ort_out = (os.path.join(work, f"{name}_{k}.pb") for k in ("in", "sd", "ort"))
    save_tensor(x.numpy(), inp)
    rc, text = run([SDINFER, path, "--input-tensor", inp, "--output-tensor", sd_out,
                    "--threads", str(args.threads)], 1800)
    if rc != 0:
        result["note"] = f"sdinfer exit {rc}: {last_line(text)}"
        return result
    rc, text = run(["node", os.path.join(ROOT, "tests", "ort_run_tensor.js"), path, inp,
                    ort_out], 1800)
    if rc != 0:
        result.update(status="ort failed", note=last_line(text))
        return result
    ours, theirs = load_tensor(sd_out), load_tensor(ort_out)
    scale = max(1.0, float(np.abs(reference).max()))
    result["diff_torch"] = float(np.abs(ours - reference).max()) / scale
    result["diff_ort"] = float(np.abs(ours - theirs).max()) / scale
    same_argmax = int(ours.argmax()) == int(reference.argmax()) == int(theirs.argmax())
    if result["diff_torch"] <= TOL and result["diff_ort"] <= TOL and same_argmax:
        result["status"] = "pass"
    else:
        result["note"] = "argmax differs" if not same_argmax else "logits differ"
    if args.runs > 0:
        _, text = run([SDINFER, path, "--bench", str(args.runs), "--batch-size", "1",
                       "--threads", str(args.threads)], 1800)
        result["sd_ips"] = images_per_second(text)
        _, text = run(["node", os.path.join(ROOT, "bench", "ort_infer.js"), path, "1",
                       str(args.runs), str(args.threads)], 1800)
        result["ort_ips"] = images_per_second(text)
    return result


def fmt(value, pattern):
    return pattern % value if value is not None else "—"


def write_markdown(results, args, seconds):
    passed = sum(r["status"] == "pass" for r in results)
    lines = [
        "# sdinfer on torchvision's classification CNNs",
        "",
        "Generated by `bench/torchvision_models.py` (`make models-md`); do not edit by hand.",
        "",
        f"torchvision {torchvision.__version__}, torch {torch.__version__}; random weights, "
        f"eval mode, one random {args.size}x{args.size} image; opsets {args.opsets}. "
        f"Pass: max |sdinfer - PyTorch| and max |sdinfer - onnxruntime| <= {TOL:g} x "
        "max(1, max |logit|), and the same argmax in all three. Speed: batch 1, "
        f"{args.runs} timed runs, {args.threads} threads on both sides (sdinfer `--bench`, "
        "onnxruntime-node `bench/ort_infer.js`), on the machine that ran the script, in one "
        "invocation; sdinfer with OMP_WAIT_POLICY=%s." % os.environ.get("OMP_WAIT_POLICY", "passive"),
        "",
        f"{len(results)} model exports checked: **{passed} pass**. Run took {seconds:.0f} s"
        + (f" in all ({seconds - args.kept_seconds:.0f} s in the last invocation, which kept "
           f"{args.kept_rows} rows of the earlier ones: --resume)" if args.kept_rows else "")
        + "; load average (1 min) %.1f at the start, %.1f at the end (speeds measured on a busy "
        "machine are only comparable within a row)." % (args.load_start, os.getloadavg()[0]),
        "",
        "| model | opset | result | max diff vs PyTorch | max diff vs onnxruntime | sdinfer images/s "
        "| onnxruntime images/s | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            r["model"], r["opset"], r["status"], fmt(r.get("diff_torch"), "%.1e"),
            fmt(r.get("diff_ort"), "%.1e"), fmt(r.get("sd_ips"), "%.1f"),
            fmt(r.get("ort_ips"), "%.1f"), r["note"].replace("|", "/")))
    missing = [m for f in FAMILIES.values() for m in f
               if m not in {r["model"] for r in results}]
    if missing:
        lines += ["", "Not run in this invocation (`--models`/`--families`): " +
                  ", ".join(missing) + "."]
    text = "\n".join(lines) + "\n"
    temporary = args.out + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, args.out)


def read_rows(path):
    """The rows and the run time of a table this script wrote (for --resume)."""
    rows, seconds = {}, 0.0
    if not os.path.exists(path):
        return rows, seconds
    number = lambda text: None if text == "\u2014" else float(text)
    with open(path) as f:
        for line in f:
            took = re.search(r"Run took ([0-9]+) s", line)
            if took:
                seconds = float(took.group(1))
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 8 or not cells[1].isdigit():
                continue
            rows[(cells[0], int(cells[1]))] = {
                "model": cells[0], "opset": int(cells[1]), "status": cells[2],
                "diff_torch": number(cells[3]), "diff_ort": number(cells[4]),
                "sd_ips": number(cells[5]), "ort_ips": number(cells[6]), "note": cells[7]}
    return rows, seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="")
    parser.add_argument("--families", default="")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--opsets", default="13,17")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default=os.path.join(ROOT, "infer", "MODELS.md"))
    parser.add_argument("--work", default="")
    parser.add_argument("--resume", action="store_true",
                        help="keep the passing rows --out already has (an interrupted or partial "
                        "run of the same command) and run only the other models")
    parser.add_argument("--redo", default="",
                        help="with --resume: families whose kept rows are measured again "
                        "(after a change that concerns them)")
    args = parser.parse_args()
    known = [m for ms in FAMILIES.values() for m in ms]
    if args.models:  # in the order given
        names = [m for m in args.models.split(",") if m in known]
    else:
        names = [m for f, ms in FAMILIES.items() for m in ms
                 if not args.families or f in args.families.split(",")]
    if not names:
        sys.exit("no model selected")
    work = args.work or tempfile.mkdtemp(prefix="sd_models_")
    os.makedirs(work, exist_ok=True)  # a --work directory that does not exist yet
    kept, args.kept_seconds = read_rows(args.out) if args.resume else ({}, 0.0)
    args.kept_rows = 0
    start, results = time.time(), []
    args.load_start = os.getloadavg()[0]
    for name in names:
        for opset in (int(o) for o in args.opsets.split(",")):
            r = kept.get((name, opset))
            redo = any(name in FAMILIES[f] for f in args.redo.split(",") if f in FAMILIES)
            if r and r["status"] == "pass" and not redo:  # a failure is run again (after a fix)
                args.kept_rows += 1
            else:
                r = check_one(name, opset, args.size, args, work)
            print("%-22s opset %d  %-10s %s %s" % (name, opset, r["status"],
                  fmt(r.get("diff_torch"), "%.1e"), r["note"]), flush=True)
            results.append(r)
            # Rewritten after every model: an interrupted run still leaves a valid table.
            write_markdown(results, args, args.kept_seconds + time.time() - start)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
