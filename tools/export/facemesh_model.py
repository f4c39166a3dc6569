"""MediaPipe's face landmark network (face_landmark.tflite, "facemesh-lite") in PyTorch.

Used by facemesh.py, which fetches the .tflite, loads it with `build` and exports the
module to TorchScript. Kept apart so that facemesh.py can answer `--if-stale` without
importing torch.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from facemesh import INPUT_SIZE, NUM_LANDMARKS, NUM_WEIGHTS, TfliteGraph, read_tflite


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv(nn.Module):
    """A TFLite CONV_2D or DEPTHWISE_CONV_2D (3x3 or 1x1, SAME or VALID) at a fixed input size."""

    def __init__(self, name: str, cin: int, cout: int, kernel: int, stride: int, size: int,
                 padding: str = "SAME", depthwise: bool = False):
        super().__init__()
        self.name, self.kind = name, "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
        self.padding, self.stride_, self.kernel, self.size = padding, stride, kernel, size
        before, after = same_padding(size, kernel, stride) if padding == "SAME" else (0, 0)
        # Symmetric padding goes into the conv; TF's asymmetric SAME (stride 2 on an even
        # size pads only after) is an explicit F.pad.
        self.pad = (0, 0, 0, 0) if before == after else (before, after, before, after)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=before if before == after else 0,
                              groups=cin if depthwise else 1)
        self.out_size = (size + before + after - kernel) // stride + 1
        self.pads = (before, after)

    def pads_for(self, padding: str) -> tuple[int, int]:
        """The pixels a TFLite op with this `padding` would add (1x1: SAME = VALID)."""
        return same_padding(self.size, self.kernel, self.stride_) if padding == "SAME" else (0, 0)

    def forward(self, x):
        if self.pad != (0, 0, 0, 0):
            x = F.pad(x, self.pad)
        return self.conv(x)


class PReLU(nn.PReLU):
    def __init__(self, name: str, channels: int):
        super().__init__(channels)
        self.name = name


class Block(nn.Module):
    """MediaPipe's residual block: depthwise 3x3 (stride 1 or 2) -> 1x1 conv, added to the
    input (max-pooled 2x2 when strided, zero-padded in channels when widened), then PReLU."""

    def __init__(self, cin: int, cout: int, stride: int, size: int, *, dw: str, pw: str,
                 add: str, act: str, pool: str | None = None, pad: str | None = None):
        super().__init__()
        assert (stride == 2) == (pool is not None) and (cout > cin) == (pad is not None)
        self.names = {"dw": dw, "pw": pw, "add": add, "act": act, "pool": pool, "pad": pad}
        self.dw = Conv(dw, cin, cin, 3, stride, size, depthwise=True)
        self.pw = Conv(pw, cin, cout, 1, 1, self.dw.out_size)
        self.act = PReLU(act, cout)
        self.pool = nn.MaxPool2d(2, 2) if stride == 2 else nn.Identity()
        self.extra = cout - cin
        self.out_size = self.dw.out_size

    def forward(self, x):
        y = self.pw(self.dw(x))
        x = self.pool(x)
        if self.extra > 0:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return self.act(x + y)

    def edges(self, src: str) -> list:
        n = self.names
        e = [("DEPTHWISE_CONV_2D", [src], n["dw"]), ("CONV_2D", [n["dw"]], n["pw"])]
        skip = src
        if n["pool"]:
            e.append(("MAX_POOL_2D", [skip], n["pool"]))
            skip = n["pool"]
        if n["pad"]:
            e.append(("PAD", [skip], n["pad"]))
            skip = n["pad"]
        e += [("ADD", [skip, n["pw"]], n["add"]), ("PRELU", [n["add"]], n["act"])]
        return e


class ConvPReLU(nn.Module):
    def __init__(self, conv: Conv, act: PReLU):
        super().__init__()
        self.conv, self.act = conv, act

    def forward(self, x):
        return self.act(self.conv(x))

    def edges(self, src: str) -> list:
        return [("CONV_2D", [src], self.conv.name), ("PRELU", [self.conv.name], self.act.name)]


# The trunk: (cin, cout, stride) of blocks 1..16. Block k is TFLite's depthwise_conv2d_k,
# conv2d_{k+1}, add_k, p_re_lu_{k+1}; the strided ones also max_pooling2d_j, and the
# widening ones channel_padding_j.
TRUNK = [(16, 16, 1), (16, 16, 1), (16, 32, 2),
         (32, 32, 1), (32, 32, 1), (32, 64, 2),
         (64, 64, 1), (64, 64, 1), (64, 128, 2),
         (128, 128, 1), (128, 128, 1), (128, 128, 2),
         (128, 128, 1), (128, 128, 1), (128, 128, 2),
         (128, 128, 1)]
FLAG_FROM = 14  # the face-flag head branches off after block 14 (6x6x128)


class FaceMesh(nn.Module):
    """MediaPipe face_landmark.tflite ("facemesh-lite") as a PyTorch module, NCHW.

    forward(image [N,3,192,192] RGB 0..1) -> (landmarks [N,468,3] in crop pixels, score [N]).
    """

    def __init__(self):
        super().__init__()
        s = INPUT_SIZE
        self.stem = ConvPReLU(Conv("conv2d_1", 3, 16, 3, 2, s), PReLU("p_re_lu_1", 16))
        s = self.stem.conv.out_size
        blocks, pool, pad = [], 0, 0
        for k, (cin, cout, stride) in enumerate(TRUNK, start=1):
            pool += stride == 2
            pad += cout > cin
            b = Block(cin, cout, stride, s, dw=f"depthwise_conv2d_{k}", pw=f"conv2d_{k + 1}",
                      add=f"add_{k}", act=f"p_re_lu_{k + 1}",
                      pool=f"max_pooling2d_{pool}" if stride == 2 else None,
                      pad=f"channel_padding_{pad}" if cout > cin else None)
            blocks.append(b)
            s = b.out_size
        self.trunk_a = nn.Sequential(*blocks[:FLAG_FROM])    # 192 -> 6x6x128
        self.trunk_b = nn.Sequential(*blocks[FLAG_FROM:])    # 6 -> 3x3x128
        # Landmark head on 3x3x128.
        self.mesh = nn.Sequential(
            Block(128, 128, 1, 3, dw="depthwise_conv2d_17", pw="conv2d_18", add="add_17",
                  act="p_re_lu_18"),
            ConvPReLU(Conv("conv2d_19", 128, 32, 1, 1, 3), PReLU("p_re_lu_19", 32)),
            Block(32, 32, 1, 3, dw="depthwise_conv2d_18", pw="conv2d_20", add="add_18",
                  act="p_re_lu_20"))
        self.mesh_out = Conv("conv2d_21", 32, NUM_LANDMARKS * 3, 3, 3, 3, padding="VALID")
        # Face-flag head on the 6x6x128 features.
        self.flag = nn.Sequential(
            Block(128, 128, 2, 6, dw="depthwise_conv2d_23", pw="conv2d_28",
                  add="add_23", act="p_re_lu_26", pool="max_pooling2d_7"),
            ConvPReLU(Conv("conv2d_29", 128, 32, 1, 1, 3), PReLU("p_re_lu_27", 32)),
            Block(32, 32, 1, 3, dw="depthwise_conv2d_24", pw="conv2d_30", add="add_24",
                  act="p_re_lu_28"))
        self.flag_out = Conv("conv2d_31", 32, 1, 3, 3, 3, padding="VALID")

    def forward_raw(self, x):
        """NCHW image -> (1404 landmark values, face-flag logit), as the .tflite outputs."""
        f = self.trunk_a(self.stem(x))
        mesh = self.mesh_out(self.mesh(self.trunk_b(f))).flatten(1)
        flag = self.flag_out(self.flag(f)).flatten(1)
        return mesh, flag

    def forward(self, image):
        mesh, flag = self.forward_raw(image)
        return mesh.reshape(-1, NUM_LANDMARKS, 3), torch.sigmoid(flag[:, 0])

    def edges(self) -> tuple[list, list]:
        """The TFLite operators this module computes, as (type, input names, output name),
        and the graph outputs, in the .tflite's order (landmarks, face flag)."""
        e, src = self.stem.edges("input_1"), self.stem.act.name
        for b in self.trunk_a:
            e += b.edges(src)
            src = b.names["act"]
        branch = src
        for b in list(self.trunk_b) + list(self.mesh):
            e += b.edges(src)
            src = b.names["act"] if isinstance(b, Block) else b.act.name
        e.append(("CONV_2D", [src], self.mesh_out.name))
        src = branch
        for b in self.flag:
            e += b.edges(src)
            src = b.names["act"] if isinstance(b, Block) else b.act.name
        e.append(("CONV_2D", [src], self.flag_out.name))
        return e, [self.mesh_out.name, self.flag_out.name]


def _convs(model: FaceMesh):
    return [m for m in model.modules() if isinstance(m, Conv)]


def load_tflite(model: FaceMesh, graph: TfliteGraph) -> None:
    """Check that `graph` is exactly the network `model` implements, then copy its weights."""
    expected, outputs = model.edges()
    got = []
    for op in graph.ops:
        if len(op["outputs"]) != 1:
            raise ValueError(f"{op['type']} with {len(op['outputs'])} outputs")
        # Activation inputs only: constants (weights, paddings) are checked below.
        ins = [t for t in op["inputs"] if t not in graph.consts and t not in graph.dequantized]
        got.append((op["type"], ins, op["outputs"][0]))
    key = lambda e: (e[2], e[0], tuple(e[1]))  # noqa: E731
    missing = sorted(set(map(key, expected)) - set(map(key, got)))
    extra = sorted(set(map(key, got)) - set(map(key, expected)))
    if missing or extra or len(got) != len(expected):
        raise ValueError(f"the .tflite graph is not the FaceMesh network: module-only ops "
                         f"{missing[:5]}, file-only ops {extra[:5]}")
    if graph.inputs != ["input_1"] or graph.shapes["input_1"] != [1, INPUT_SIZE, INPUT_SIZE, 3]:
        raise ValueError(f"unexpected input {graph.inputs} {graph.shapes.get('input_1')}")
    if graph.outputs != outputs:
        raise ValueError(f"outputs {graph.outputs}, expected {outputs}")

    by_output = {op["outputs"][0]: op for op in graph.ops}
    sd = {}
    for conv in _convs(model):
        op = by_output[conv.name]
        o = op["options"]
        if conv.pads_for(o.get("padding", "")) != conv.pads:
            raise ValueError(f"{conv.name}: {o.get('padding')} padding, module pads {conv.pads}")
        want = {"padding": o["padding"], "stride": (conv.stride_, conv.stride_),
                "activation": "NONE", "dilation": (1, 1)}
        if conv.kind == "DEPTHWISE_CONV_2D":
            want["depth_multiplier"] = 1
        if o != want:
            raise ValueError(f"{conv.name}: options {o}, expected {want}")
        kernel, bias = (graph.weight(t) for t in op["inputs"][1:3])
        if conv.kind == "CONV_2D":       # [O, KH, KW, I] -> [O, I, KH, KW]
            w = kernel.transpose(0, 3, 1, 2)
        else:                            # [1, KH, KW, C] -> [C, 1, KH, KW]
            w = kernel.transpose(3, 0, 1, 2)
        prefix = _module_path(model, conv) + ".conv."
        sd[prefix + "weight"], sd[prefix + "bias"] = w, bias
        if graph.shapes[conv.name][1:3] != [conv.out_size, conv.out_size]:
            raise ValueError(f"{conv.name}: output {graph.shapes[conv.name]}, module {conv.out_size}")
    for name, m in model.named_modules():
        if isinstance(m, PReLU):
            op = by_output[m.name]
            sd[name + ".weight"] = graph.weight(op["inputs"][1]).reshape(-1)
    for b in (m for m in model.modules() if isinstance(m, Block)):
        if b.names["pool"]:
            o = by_output[b.names["pool"]]["options"]
            want = {"padding": o["padding"], "stride": (2, 2), "filter": (2, 2), "activation": "NONE"}
            if o != want:
                raise ValueError(f"{b.names['pool']}: options {o}")
        if b.names["pad"]:
            pads = graph.consts[by_output[b.names["pad"]]["inputs"][1]].tolist()
            if pads != [[0, 0], [0, 0], [0, 0], [0, b.extra]]:
                raise ValueError(f"{b.names['pad']}: paddings {pads}")
        if by_output[b.names["add"]]["options"].get("activation", "NONE") != "NONE":
            raise ValueError(f"{b.names['add']}: fused activation")

    state = model.state_dict()
    if set(sd) != set(state):
        raise ValueError(f"weights not found for {sorted(set(state) - set(sd))[:5]}")
    for k, v in sd.items():
        t = torch.from_numpy(v.copy())
        if tuple(t.shape) != tuple(state[k].shape):
            raise ValueError(f"{k}: file shape {tuple(t.shape)}, module {tuple(state[k].shape)}")
        sd[k] = t
    model.load_state_dict(sd, strict=True)


def _module_path(model: nn.Module, target: nn.Module) -> str:
    for name, m in model.named_modules():
        if m is target:
            return name
    raise KeyError(target)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(tflite: Path) -> tuple[FaceMesh, TfliteGraph]:
    graph = read_tflite(tflite)
    model = FaceMesh()
    load_tflite(model, graph)
    model.eval()
    n = param_count(model)
    if n != graph.num_weights() or n != NUM_WEIGHTS:
        raise ValueError(f"{n} parameters; the file has {graph.num_weights()} weights, "
                         f"expected {NUM_WEIGHTS}")
    return model, graph
