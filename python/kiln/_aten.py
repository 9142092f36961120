"""The ATen-to-kiln table: each core ATen op kiln compiles, as kiln text statements.

One entry per op overload, in one place: ``TABLE[op](ctx, node)`` emits the statements for
``node`` into ``ctx`` and returns the kiln name of its result (a tuple of names for ops with
several results, which ``operator.getitem`` nodes then pick). An op that is not in the table,
or whose arguments kiln cannot take (an integer dtype, a rounding mode, a 3-d convolution),
runs eagerly in PyTorch.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Union

import torch
import torch.fx

aten = torch.ops.aten
prims = torch.ops.prims

_DTYPES = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.bool: "bool",
    torch.int64: "i64",
}
_RESERVED = {"true", "false", "None", "inf", "nan", "graph", "input", "output", "param"}


class Unsupported(Exception):
    """A node kiln cannot translate."""


Result = Union[str, tuple]


class Ctx:
    """The kiln text being written for one partition."""

    def __init__(self) -> None:
        self.lines: list = []
        self.names: dict = {}
        self.taken: set = set()
        self.symbols: dict = {}
        self.by_expr: dict = {}

    def fresh(self, base: str) -> str:
        base = base if base.isidentifier() and base not in _RESERVED else f"v_{base}"
        name, i = base, 0
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name

    def emit(self, rhs: str, base: str = "t") -> str:
        name = self.fresh(base)
        self.lines.append(f"{name} = {rhs}")
        return name

    def v(self, a: Any) -> str:
        """An argument in kiln's text syntax."""
        if isinstance(a, torch.fx.Node):
            if a in self.names:
                r = self.names[a]
                if isinstance(r, tuple):
                    raise Unsupported(f"{a.name} has several results")
                return r
            return self.symbol(a)
        if isinstance(a, bool):
            return "true" if a else "false"
        if isinstance(a, (int, float)):
            if isinstance(a, float) and math.isnan(a):
                return "nan"
            if isinstance(a, float) and math.isinf(a):
                return "inf" if a > 0 else "-inf"
            return repr(a)
        if isinstance(a, (list, tuple)):
            return "[" + ", ".join(self.v(x) for x in a) + "]"
        if a is None:
            return "None"
        if isinstance(a, torch.dtype):
            if a not in _DTYPES:
                raise Unsupported(f"dtype {a}")
            return _DTYPES[a]
        if isinstance(a, str):
            return '"' + a + '"'
        raise Unsupported(f"argument {a!r}")

    def symbol(self, node: torch.fx.Node) -> str:
        """A SymInt node as the kiln symbol of an input dim with that size."""
        val = node.meta.get("val")
        if isinstance(val, torch.SymInt):
            name = self.by_expr.get(str(val.node.expr))
            if name is not None:
                return name
        raise Unsupported(f"{node.name} is not a value kiln knows")

    def dim(self, d: Any) -> str:
        """A declared input dim: an integer, or a symbol of its own, named by position.

        Every symbolic dim gets its own kiln symbol (`s0`, `s1`, ... in order), not Dynamo's:
        Dynamo's names and its duck sizing (equal sizes sharing one symbol) change between
        traces of the same code, and the kiln graph, hence its cache key, must not. kiln's
        own guards relate the dims where an op needs it (broadcasting records `s1 == s2`).
        """
        if isinstance(d, int):
            return str(d)
        name = f"s{len(self.symbols)}"
        self.symbols[name] = d
        self.by_expr.setdefault(str(d.node.expr), name)
        return name


def _tensor_dtypes_ok(node: torch.fx.Node) -> bool:
    vals = [node.meta.get("val")]
    vals += [a.meta.get("val") for a in node.all_input_nodes]
    for v in vals:
        for t in v if isinstance(v, (list, tuple)) else [v]:
            if isinstance(t, torch.Tensor) and t.dtype not in _DTYPES:
                return False
    return True


def _call(name: str, *args: str, **kwargs: str) -> str:
    parts = list(args) + [f"{k}={v}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _unary(kiln_name: str) -> Callable:
    return lambda c, n: c.emit(_call(kiln_name, c.v(n.args[0])), n.name)


def _binary(kiln_name: str) -> Callable:
    def lower(c: Ctx, n: torch.fx.Node) -> str:
        a, b = n.args[0], n.args[1]
        alpha = n.kwargs.get("alpha", 1)
        bv = c.v(b)
        if alpha != 1:
            bv = c.emit(_call("mul", bv, c.v(alpha)), f"{n.name}_alpha")
        return c.emit(_call(kiln_name, c.v(a), bv), n.name)

    return lower


def _reduce(kiln_name: str) -> Callable:
    def lower(c: Ctx, n: torch.fx.Node) -> str:
        x = c.v(n.args[0])
        dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
        keep = n.args[2] if len(n.args) > 2 else n.kwargs.get("keepdim", False)
        if n.kwargs.get("dtype") is not None:
            raise Unsupported("reduction dtype")
        kw = {"keepdim": c.v(keep)}
        if dims is not None and list(dims) != []:
            kw["dim"] = c.v(list(dims))
        return c.emit(_call(kiln_name, x, **kw), n.name)

    return lower


def _reshape(c: Ctx, n: torch.fx.Node) -> str:
    sizes, free = [], 0
    for s in n.args[1]:
        if isinstance(s, int):
            sizes.append(str(s))
            continue
        try:
            sizes.append(c.v(s))
        except Unsupported:
            free += 1
            sizes.append("-1")
    if free > 1 or (free == 1 and "-1" in [str(s) for s in n.args[1] if isinstance(s, int)]):
        raise Unsupported("reshape with several computed sizes")
    return c.emit(_call("reshape", c.v(n.args[0]), "[" + ", ".join(sizes) + "]"), n.name)


def _cast(c: Ctx, n: torch.fx.Node) -> str:
    dtype = n.kwargs.get("dtype", n.args[1] if len(n.args) > 1 else None)
    if dtype is None:
        dtype = n.meta["val"].dtype
    return c.emit(_call("to", c.v(n.args[0]), dtype=c.v(dtype)), n.name)


def _identity(c: Ctx, n: torch.fx.Node) -> str:
    return c.emit(_call("to", c.v(n.args[0]), dtype=c.v(n.meta["val"].dtype)), n.name)


def _transpose_t(c: Ctx, n: torch.fx.Node) -> str:
    if n.meta["val"].dim() < 2:
        return _identity(c, n)
    return c.emit(_call("transpose", c.v(n.args[0]), "0", "1"), n.name)


def _arg(n: torch.fx.Node, i: int, key: str, default: Any) -> Any:
    return n.args[i] if len(n.args) > i else n.kwargs.get(key, default)


def _softmax(kiln_name: str) -> Callable:
    return lambda c, n: c.emit(_call(kiln_name, c.v(n.args[0]), dim=c.v(n.args[1])), n.name)


def _max_pool(c: Ctx, n: torch.fx.Node) -> tuple:
    x = c.v(n.args[0])
    kw = {
        "kernel_size": c.v(list(n.args[1])),
        "stride": c.v(list(_arg(n, 2, "stride", []) or n.args[1])),
        "padding": c.v(list(_arg(n, 3, "padding", [0, 0]))),
        "dilation": c.v(list(_arg(n, 4, "dilation", [1, 1]))),
        "ceil_mode": c.v(_arg(n, 5, "ceil_mode", False)),
    }
    users = {u.args[1] for u in n.users if u.target is operator.getitem}
    if users <= {0}:
        return (c.emit(_call("max_pool2d", x, **kw), n.name), None)
    v, i = c.fresh(n.name), c.fresh(f"{n.name}_indices")
    c.lines.append(f"{v}, {i} = " + _call("max_pool2d", x, return_indices="true", **kw))
    return (v, i)


def _avg_pool(c: Ctx, n: torch.fx.Node) -> str:
    k = list(n.args[1])
    kw = {
        "kernel_size": c.v(k),
        "stride": c.v(list(_arg(n, 2, "stride", []) or k)),
        "padding": c.v(list(_arg(n, 3, "padding", [0, 0]))),
        "ceil_mode": c.v(_arg(n, 4, "ceil_mode", False)),
        "count_include_pad": c.v(_arg(n, 5, "count_include_pad", True)),
        "divisor_override": c.v(_arg(n, 6, "divisor_override", None)),
    }
    return c.emit(_call("avg_pool2d", c.v(n.args[0]), **kw), n.name)


def _adaptive_avg(c: Ctx, n: torch.fx.Node) -> str:
    return c.emit(_call("adaptive_avg_pool2d", c.v(n.args[0]), c.v(list(n.args[1]))), n.name)


def _max_pool_backward(c: Ctx, n: torch.fx.Node) -> str:
    """``max_pool2d_with_indices_backward``: kiln finds each window's maximum again in the
    forward input (PyTorch's index rule), so the indices argument is not read."""
    grad, x, k, stride, padding, dilation, ceil_mode = n.args[:7]
    kw = {
        "kernel_size": c.v(list(k)),
        "stride": c.v(list(stride) or list(k)),
        "padding": c.v(list(padding)),
        "dilation": c.v(list(dilation)),
        "ceil_mode": c.v(ceil_mode),
    }
    return c.emit(_call("max_pool2d_backward", c.v(grad), c.v(x), **kw), n.name)


def _avg_pool_backward(c: Ctx, n: torch.fx.Node) -> str:
    grad, x, k, stride, padding, ceil_mode, count_include_pad = n.args[:7]
    kw = {
        "kernel_size": c.v(list(k)),
        "stride": c.v(list(stride) or list(k)),
        "padding": c.v(list(padding)),
        "ceil_mode": c.v(ceil_mode),
        "count_include_pad": c.v(count_include_pad),
        "divisor_override": c.v(_arg(n, 7, "divisor_override", None)),
    }
    return c.emit(_call("avg_pool2d_backward", c.v(grad), c.v(x), **kw), n.name)


def _convolution(c: Ctx, n: torch.fx.Node) -> str:
    x, w, b, stride, padding, dilation, transposed, out_pad, groups = n.args[:9]
    rank = n.meta["val"].dim() - 2
    if rank not in (1, 2) or (transposed and rank != 2):
        raise Unsupported(f"{rank}-d convolution")
    kw = {"stride": c.v(list(stride)), "padding": c.v(list(padding))}
    if transposed:
        kw["output_padding"] = c.v(list(out_pad))
    kw.update(groups=c.v(groups), dilation=c.v(list(dilation)))
    name = "conv_transpose2d" if transposed else f"conv{rank}d"
    return c.emit(_call(name, c.v(x), c.v(w), c.v(b), **kw), n.name)


def _convolution_backward(c: Ctx, n: torch.fx.Node) -> tuple:
    """``convolution_backward(grad_output, input, weight, bias_sizes, stride, padding,
    dilation, transposed, output_padding, groups, output_mask)``: the results ``output_mask``
    asks for (``None`` for the others). A transposed convolution is the input gradient of the
    convolution with its parameters, so its input gradient is that convolution of
    ``grad_output`` and its weight gradient that convolution's, with input and grad_output
    swapped."""
    gy, x, w, _bias_sizes, stride, padding, dilation, transposed, _out_pad, groups, mask = n.args[
        :11
    ]
    rank = x.meta["val"].dim() - 2
    kw = {
        "stride": c.v(list(stride)),
        "padding": c.v(list(padding)),
        "dilation": c.v(list(dilation)),
        "groups": c.v(groups),
    }
    gyv, xv, wv = c.v(gy), c.v(x), c.v(w)
    gi = gw = gb = None
    if mask[0]:
        rhs = (
            _call("convolution", gyv, wv, **kw)
            if transposed
            else _call("convolution_backward_input", gyv, wv, xv, **kw)
        )
        gi = c.emit(rhs, f"{n.name}_input")
    if mask[1]:
        args = (xv, gyv, wv) if transposed else (gyv, xv, wv)
        gw = c.emit(_call("convolution_backward_weight", *args, **kw), f"{n.name}_weight")
    if mask[2]:
        dims = [0, *range(2, rank + 2)]
        gb = c.emit(_call("sum", gyv, dim=c.v(dims)), f"{n.name}_bias")
    return (gi, gw, gb)


def _addmm(c: Ctx, n: torch.fx.Node) -> str:
    kw = {"beta": c.v(n.kwargs.get("beta", 1)), "alpha": c.v(n.kwargs.get("alpha", 1))}
    return c.emit(_call("addmm", *(c.v(a) for a in n.args[:3]), **kw), n.name)


def _batch_norm_eval(c: Ctx, n: torch.fx.Node) -> tuple:
    x, w, b, mean, var, _momentum, eps = n.args[:7]
    rhs = _call("batch_norm", c.v(x), c.v(mean), c.v(var), weight=c.v(w), bias=c.v(b), eps=c.v(eps))
    return (c.emit(rhs, n.name), None, None)


def _batch_norm_train(c: Ctx, n: torch.fx.Node) -> tuple:
    """``_native_batch_norm_legit_functional`` (training): the output, the batch mean and
    ``1/sqrt(var + eps)`` PyTorch saves, and the running statistics updated with the unbiased
    variance, as ``torch.nn.BatchNorm`` does."""
    x, w, b, rm, rv, _training, momentum, eps = n.args[:8]
    rank = n.args[0].meta["val"].dim()
    base = n.name
    rhs = _call("batch_norm", c.v(x), "None", "None", weight=c.v(w), bias=c.v(b),
                training="true", eps=c.v(eps))
    y, mean, var = (c.fresh(f"{base}_{part}") for part in ("out", "mean", "var"))
    c.lines.append(f"{y}, {mean}, {var} = {rhs}")
    shifted = c.emit(_call("add", var, c.v(eps)), f"{base}_var_eps")
    rstd = c.emit(_call("rsqrt", shifted), f"{base}_rstd")
    ones = c.emit(_call("ones_like", c.v(x)), f"{base}_ones")
    dims = [0] + list(range(2, rank))
    count = c.emit(_call("sum", ones, dim=c.v(dims)), f"{base}_count")
    less = c.emit(_call("sub", count, "1.0"), f"{base}_count_1")
    ratio = c.emit(_call("div", count, less), f"{base}_bessel")
    unbiased = c.emit(_call("mul", var, ratio), f"{base}_var_unbiased")
    m = c.v(momentum)
    kept = c.v(1.0 - float(momentum))
    old_mean = c.emit(_call("mul", c.v(rm), kept), f"{base}_rm_kept")
    new_part = c.emit(_call("mul", mean, m), f"{base}_rm_new")
    new_mean = c.emit(_call("add", old_mean, new_part), f"{base}_running_mean")
    old_var = c.emit(_call("mul", c.v(rv), kept), f"{base}_rv_kept")
    var_part = c.emit(_call("mul", unbiased, m), f"{base}_rv_new")
    new_var = c.emit(_call("add", old_var, var_part), f"{base}_running_var")
    return (y, mean, rstd, new_mean, new_var)


def _scalar_tensor(c: Ctx, n: torch.fx.Node) -> str:
    dtype = n.kwargs.get("dtype") or torch.get_default_dtype()
    if dtype not in _DTYPES:
        raise Unsupported(f"scalar_tensor of {dtype}")
    return c.emit(_call("tensor", c.v(float(n.args[0])), dtype=_DTYPES[dtype]), n.name)


def _layer_norm(c: Ctx, n: torch.fx.Node) -> tuple:
    x, shape, w, b, eps = n.args[:5]
    rhs = _call("layer_norm", c.v(x), c.v(list(shape)), weight=c.v(w), bias=c.v(b), eps=c.v(eps))
    return (c.emit(rhs, n.name), None, None)


def _threshold_backward(c: Ctx, n: torch.fx.Node) -> str:
    grad, x, threshold = n.args[:3]
    mask = c.emit(_call("le", c.v(x), c.v(threshold)), f"{n.name}_mask")
    return c.emit(_call("where", mask, "0.0", c.v(grad)), n.name)


def _where(c: Ctx, n: torch.fx.Node) -> str:
    return c.emit(_call("where", *(c.v(a) for a in n.args[:3])), n.name)


def _gelu(c: Ctx, n: torch.fx.Node) -> str:
    approx = n.kwargs.get("approximate", "none")
    return c.emit(_call("gelu", c.v(n.args[0]), approximate=c.v(approx)), n.name)


def _simple(kiln_name: str, nargs: int) -> Callable:
    return lambda c, n: c.emit(_call(kiln_name, *(c.v(a) for a in n.args[:nargs])), n.name)


TABLE: dict = {
    **{
        getattr(aten, op).default: _unary(op)
        for op in (
            "neg abs exp log sqrt rsqrt reciprocal sin cos tanh sigmoid relu floor ceil "
            "logical_not silu"
        ).split()
    },
    aten.gelu.default: _gelu,
    **{getattr(aten, op).Tensor: _binary(op) for op in ("add", "sub", "mul", "div")},
    **{getattr(aten, op).Scalar: _binary(op) for op in ("add", "sub", "mul", "div")},
    aten.pow.Tensor_Scalar: _simple("pow", 2),
    aten.pow.Tensor_Tensor: _simple("pow", 2),
    **{getattr(aten, op).default: _binary(op) for op in ("maximum", "minimum")},
    **{getattr(aten, op).Tensor: _binary(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
    **{getattr(aten, op).Scalar: _binary(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
    aten.logical_and.default: _binary("logical_and"),
    aten.logical_or.default: _binary("logical_or"),
    aten.where.self: _where,
    aten.sum.dim_IntList: _reduce("sum"),
    aten.sum.default: _reduce("sum"),
    aten.mean.dim: _reduce("mean"),
    aten.amax.default: _reduce("amax"),
    aten.amin.default: _reduce("amin"),
    aten._softmax.default: _softmax("softmax"),
    aten._log_softmax.default: _softmax("log_softmax"),
    aten.view.default: _reshape,
    aten._unsafe_view.default: _reshape,
    aten.reshape.default: _reshape,
    aten.permute.default: lambda c, n: c.emit(
        _call("permute", c.v(n.args[0]), c.v(list(n.args[1]))), n.name
    ),
    aten.t.default: _transpose_t,
    aten.transpose.int: _simple("transpose", 3),
    aten.expand.default: lambda c, n: c.emit(
        _call("expand", c.v(n.args[0]), c.v(list(n.args[1]))), n.name
    ),
    aten.unsqueeze.default: _simple("unsqueeze", 2),
    aten.squeeze.dim: _simple("squeeze", 2),
    aten.squeeze.dims: lambda c, n: c.emit(
        _call("squeeze", c.v(n.args[0]), c.v(list(n.args[1]))), n.name
    ),
    aten.clone.default: _identity,
    aten.alias.default: _identity,
    aten._to_copy.default: _cast,
    prims.convert_element_type.default: _cast,
    aten.max_pool2d_with_indices.default: _max_pool,
    aten.avg_pool2d.default: _avg_pool,
    aten._adaptive_avg_pool2d.default: _adaptive_avg,
    aten.max_pool2d_with_indices_backward.default: _max_pool_backward,
    aten.avg_pool2d_backward.default: _avg_pool_backward,
    aten._adaptive_avg_pool2d_backward.default: _simple("adaptive_avg_pool2d_backward", 2),
    aten.adaptive_max_pool2d_backward.default: _simple("adaptive_max_pool2d_backward", 2),
    aten.mm.default: _simple("mm", 2),
    aten.bmm.default: _simple("bmm", 2),
    aten.addmm.default: _addmm,
    aten.convolution.default: _convolution,
    aten.convolution_backward.default: _convolution_backward,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_eval,
    aten._native_batch_norm_legit_functional.default: _batch_norm_train,
    aten.scalar_tensor.default: _scalar_tensor,
    aten.native_layer_norm.default: _layer_norm,
    aten.threshold_backward.default: _threshold_backward,
}

# Ops whose extra results (training statistics, indices) kiln does not produce yet: they are
# supported only when nothing reads those results.
_FIRST_RESULT_ONLY = {
    aten._native_batch_norm_legit_no_training.default,
    aten.native_layer_norm.default,
}


def supported(node: torch.fx.Node) -> bool:
    """Whether ``node`` can run inside a kiln partition."""
    if node.target is operator.getitem:
        src = node.args[0]
        return isinstance(src, torch.fx.Node) and supported(src)
    if node.target not in TABLE or not _tensor_dtypes_ok(node):
        return False
    if node.target in _FIRST_RESULT_ONLY:
        return all(u.target is operator.getitem and u.args[1] == 0 for u in node.users)
    if node.target in (aten.div.Tensor, aten.div.Scalar) and node.kwargs.get("rounding_mode"):
        return False
    if node.target is aten.convolution.default:
        return node.meta["val"].dim() in (3, 4)
    if node.target is aten.convolution_backward.default:
        return _conv_backward_ok(node)
    return True


def _conv_backward_ok(node: torch.fx.Node) -> bool:
    """1-d/2-d (transposed: 2-d, with output_padding below the stride, which the gradient
    needs to map the output's size back onto the input's), and only the results that
    ``output_mask`` asks for are read."""
    x = node.args[1].meta["val"]
    transposed, out_pad, stride, mask = (node.args[i] for i in (7, 8, 4, 10))
    if x.dim() not in (3, 4) or (transposed and x.dim() != 4):
        return False
    if transposed and any(p >= s for p, s in zip(out_pad, stride)):
        return False
    return all(u.target is operator.getitem and mask[u.args[1]] for u in node.users)


@dataclass
class Translation:
    """A partition as kiln text: which of its arguments are tensors (in order), whether it
    returns one value, and whether any dim is symbolic."""

    text: str
    tensor_args: list
    single: bool
    dynamic: str


def translate(name: str, gm: torch.fx.GraphModule) -> Translation:
    """The kiln text of one partition (raises ``kiln.GraphError`` if it cannot be written)."""
    import kiln

    c = Ctx()
    inputs, tensor_args, outputs = [], [], []
    single = True
    try:
        for i, node in enumerate(n for n in gm.graph.nodes if n.op == "placeholder"):
            val = node.meta.get("val")
            if isinstance(val, torch.Tensor):
                dims = ", ".join(c.dim(d) for d in val.shape)
                # By position, not Dynamo's placeholder name, which differs between traces
                # (kiln hashes input names into the key).
                kname = c.fresh(f"in{len(tensor_args)}")
                c.names[node] = kname
                inputs.append(f"input {kname}: {c.v(val.dtype)}[{dims}]")
                tensor_args.append(i)
        for node in gm.graph.nodes:
            if node.op == "call_function":
                if node.target is operator.getitem:
                    c.names[node] = c.names[node.args[0]][node.args[1]]
                else:
                    c.names[node] = TABLE[node.target](c, node)
            elif node.op == "output":
                out = node.args[0]
                single = not isinstance(out, (list, tuple))
                outputs = [c.v(o) for o in ([out] if single else out)]
    except (Unsupported, KeyError, IndexError, TypeError) as e:
        raise kiln.GraphError(f"cannot translate {name}: {e}") from e
    text = "\n".join([f"graph {name}", *inputs, *c.lines, "output " + ", ".join(outputs)])
    dynamic = (
        "dynamic"
        if c.symbols and not all(isinstance(s, int) for s in c.symbols.values())
        else "static"
    )
    return Translation(text=text + "\n", tensor_args=tensor_args, single=single, dynamic=dynamic)
