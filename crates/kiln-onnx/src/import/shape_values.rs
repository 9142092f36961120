//! Shape subgraphs folded at import. Exported models compute shapes at run time
//! (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`, `Shape -> Slice`, arithmetic on
//! sizes); kiln folds them into symbolic expressions over the input symbols ([`Ints`]), so a
//! model with a dynamic batch compiles once. The consumers (`Reshape`, `Expand`,
//! `ConstantOfShape` in `layout.rs`) turn an expression into a kiln [`Dim`] where it is a
//! constant or a plain symbol, into `-1` for a reshape's one unknown, and otherwise take the
//! shape from the value it was read from (`expand_as`/`reshape_as`); what still cannot be
//! expressed is a typed error naming the node and why.
use kiln_ir::NodeId;
use kiln_shape::{Dim, Expr, ShapeEnv, ValueRange};

use super::ops::{NodeError, input};
use super::{Attrs, Importer, Value};
use crate::proto::NodeProto;

type R = Result<(), NodeError>;

/// A 0-d or 1-d integer tensor known at import, each element a symbolic size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ints {
    pub vals: Vec<Expr>,
    /// A 0-d tensor (a scalar Constant, Gather with a scalar index), not a 1-element vector.
    pub scalar: bool,
    /// `vals` is exactly the shape of this kiln value (`Shape(x)`, unchanged), so an op that
    /// cannot name the dims can still take them from `x`.
    pub like: Option<NodeId>,
}

impl Ints {
    pub fn fixed(v: Vec<i64>, scalar: bool) -> Ints {
        Ints {
            vals: v.into_iter().map(Expr::int).collect(),
            scalar,
            like: None,
        }
    }

    fn computed(vals: Vec<Expr>, scalar: bool) -> Ints {
        Ints {
            vals,
            scalar,
            like: None,
        }
    }

    /// Every element as a constant, or `None` where one is symbolic.
    pub fn as_i64(&self) -> Option<Vec<i64>> {
        self.vals.iter().map(Expr::as_int).collect()
    }
}

/// An expression as a kiln dim: a constant or a plain symbol.
pub(crate) fn as_dim(e: &Expr) -> Option<Dim> {
    e.as_int()
        .map(Dim::Fixed)
        .or_else(|| e.as_sym().map(Dim::sym))
}

fn show(vals: &[Expr]) -> String {
    let parts: Vec<String> = vals.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

impl Importer<'_> {
    /// The symbolic shape of a kiln value, over the graph inputs' symbols. Types are inferred
    /// for the graph as built so far and kept: nodes are only appended, so earlier types stay
    /// valid and a later call re-infers only when it asks about a newer node.
    pub(crate) fn symbolic_shape(&mut self, id: NodeId) -> Result<Vec<Expr>, NodeError> {
        if id.index() >= self.shapes.len() {
            let mut env = ShapeEnv::new();
            let mut hint = 1000;
            let mut inputs = Vec::new();
            for (_, dims) in self.g.input_dims() {
                let mut shape = Vec::with_capacity(dims.len());
                for d in dims {
                    shape.push(match d {
                        Dim::Fixed(v) => Expr::int(v),
                        Dim::Sym(s) => {
                            // Distinct hints: no decision at import may equate two symbols.
                            hint += 1;
                            let h = env.symbol(&s).map_or(hint, |i| i.hint);
                            env.create_symbol(&s, h, ValueRange::DYNAMIC_SIZE)
                                .map_err(|e| crate::error::OnnxError::Input {
                                    input: s.clone(),
                                    msg: format!("symbol for shape folding: {e}"),
                                })?
                        }
                    });
                }
                inputs.push(shape);
            }
            let types = kiln_ir::infer_shapes(&self.g, &mut env, &inputs)?;
            self.shapes = types.into_iter().map(|t| t.shape).collect();
        }
        Ok(self.shapes[id.index()].clone())
    }

    /// The import-time integer tensor named by input `i`, if it is one.
    pub(crate) fn ints_value(&self, node: &NodeProto, i: usize) -> Option<&Ints> {
        match input(node, i).and_then(|n| self.values.get(n)) {
            Some(Value::Ints(v)) => Some(v),
            _ => None,
        }
    }

    fn set_ints(&mut self, node: &NodeProto, v: Ints) -> R {
        let onnx = node.output.first().cloned().unwrap_or_default();
        self.values.insert(onnx, Value::Ints(v));
        Ok(())
    }
}

/// Folds `node` at import when it computes a shape value: `Shape` of any value, and the
/// integer ops whose inputs are all import-time integers. `None`: not a shape computation.
pub(super) fn fold(imp: &mut Importer, node: &NodeProto, op: &str, a: &Attrs) -> Option<R> {
    if op == "Shape" {
        return Some(shape_node(imp, node, a));
    }
    let present: Vec<usize> = (0..node.input.len())
        .filter(|&i| input(node, i).is_some())
        .collect();
    if present.is_empty() || present.iter().any(|&i| imp.ints_value(node, i).is_none()) {
        return None;
    }
    let ins: Vec<Ints> = present
        .iter()
        .map(|&i| imp.ints_value(node, i).cloned().expect("checked"))
        .collect();
    let err = |msg: String| Some(Err(NodeError::Failed(a.err(msg))));
    let out = match op {
        "Identity" | "Cast" => {
            let mut v = ins[0].clone();
            v.like = ins[0].like;
            v
        }
        "Gather" => match gather(&ins, a) {
            Ok(v) => v,
            Err(m) => return err(m),
        },
        "Unsqueeze" | "Squeeze" => match squeeze(imp, &ins, a, op == "Unsqueeze") {
            Ok(v) => v,
            Err(m) => return err(m),
        },
        "Concat" => {
            let like = (ins.len() == 1).then_some(ins[0].like).flatten();
            let vals = ins.iter().flat_map(|v| v.vals.iter().cloned()).collect();
            Ints {
                vals,
                scalar: false,
                like,
            }
        }
        "Slice" => match slice(imp, node, &ins[0], a) {
            Ok(v) => v,
            Err(m) => return err(m),
        },
        "Add" | "Sub" | "Mul" | "Div" if ins.len() == 2 => match arith(op, &ins[0], &ins[1]) {
            Ok(v) => v,
            Err(m) => return err(m),
        },
        "Range" if ins.len() == 3 => match range(&ins) {
            Ok(v) => v,
            Err(m) => return err(m),
        },
        _ => return None,
    };
    Some(imp.set_ints(node, out))
}

/// `Shape(x)` with opset 15's `start`/`end` (clamped, negative from the end).
fn shape_node(imp: &mut Importer, node: &NodeProto, a: &Attrs) -> R {
    let x = imp.arg_at(node, 0)?;
    let shape = imp.symbolic_shape(x)?;
    let rank = shape.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let (start, end) = (clamp(a.int("start", 0)), clamp(a.int("end", rank)));
    let whole = start == 0 && end == shape.len();
    let vals = shape
        .get(start..end.max(start))
        .unwrap_or_default()
        .to_vec();
    imp.set_ints(
        node,
        Ints {
            vals,
            scalar: false,
            like: whole.then_some(x),
        },
    )
}

fn gather(ins: &[Ints], a: &Attrs) -> Result<Ints, String> {
    let (data, idx) = (&ins[0], &ins[1]);
    if a.int("axis", 0) != 0 || data.scalar {
        return Err("a shape value gathers on axis 0 of a 1-d tensor only".into());
    }
    let idx = idx
        .as_i64()
        .ok_or("gathering a shape value at symbolic indices cannot be folded at import")?;
    let n = data.vals.len() as i64;
    let vals = idx
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            usize::try_from(j)
                .ok()
                .and_then(|j| data.vals.get(j).cloned())
                .ok_or_else(|| format!("index {i} is out of range for a shape of {n} elements"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ints::computed(vals, ins[1].scalar))
}

fn squeeze(imp: &Importer, ins: &[Ints], a: &Attrs, unsqueeze: bool) -> Result<Ints, String> {
    let axes = if imp.opset >= 13 {
        ins.get(1).and_then(Ints::as_i64)
    } else {
        a.ints("axes")
    };
    let v = &ins[0];
    match (unsqueeze, axes.as_deref()) {
        // A scalar size becomes a 1-element vector, ready for Concat.
        (true, Some([0] | [-1])) if v.scalar => Ok(Ints::computed(v.vals.clone(), false)),
        (false, None | Some([0] | [-1])) if !v.scalar && v.vals.len() == 1 => {
            Ok(Ints::computed(v.vals.clone(), true))
        }
        _ => Err(format!(
            "{} of a shape value of {} element(s) with axes {axes:?} cannot be folded",
            if unsqueeze { "Unsqueeze" } else { "Squeeze" },
            v.vals.len()
        )),
    }
}

fn slice(imp: &Importer, node: &NodeProto, v: &Ints, a: &Attrs) -> Result<Ints, String> {
    let get = |i: usize, attr: &str| -> Result<Option<Vec<i64>>, String> {
        if imp.opset >= 10 {
            match input(node, i) {
                None => Ok(None),
                Some(_) => imp
                    .ints_value(node, i)
                    .and_then(Ints::as_i64)
                    .map(Some)
                    .ok_or_else(|| format!("input {i} of a shape slice is not constant")),
            }
        } else {
            Ok(a.ints(attr))
        }
    };
    let starts = get(1, "starts")?.ok_or("no starts")?;
    let ends = get(2, "ends")?.ok_or("no ends")?;
    let axes = get(3, "axes")?.unwrap_or(vec![0]);
    let steps = get(4, "steps")?.unwrap_or(vec![1]);
    let (&[s], &[e], &[0 | -1], &[1]) = (&starts[..], &ends[..], &axes[..], &steps[..]) else {
        return Err("a shape value is sliced on axis 0 with step 1 only".into());
    };
    let n = v.vals.len() as i64;
    let clamp = |x: i64| (if x < 0 { x.saturating_add(n) } else { x }).clamp(0, n) as usize;
    let (s, e) = (clamp(s), clamp(e));
    let vals = v.vals.get(s..e.max(s)).unwrap_or_default().to_vec();
    let like = (s == 0 && e == v.vals.len()).then_some(v.like).flatten();
    Ok(Ints {
        vals,
        scalar: false,
        like,
    })
}

/// Elementwise integer arithmetic with ONNX broadcasting of a 1-element operand.
fn arith(op: &str, x: &Ints, y: &Ints) -> Result<Ints, String> {
    let n = match (x.vals.len(), y.vals.len()) {
        (a, b) if a == b => a,
        (1, b) => b,
        (a, 1) => a,
        (a, b) => {
            return Err(format!(
                "cannot broadcast shape values of {a} and {b} elements"
            ));
        }
    };
    let at = |v: &Ints, i: usize| v.vals[if v.vals.len() == 1 { 0 } else { i }].clone();
    let vals = (0..n)
        .map(|i| {
            let (p, q) = (at(x, i), at(y, i));
            match op {
                "Add" => Ok(&p + &q),
                "Sub" => Ok(&p - &q),
                "Mul" => Ok(&p * &q),
                _ => div(&p, &q),
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Ints::computed(vals, x.scalar && y.scalar))
}

/// ONNX integer `Div` truncates; sizes are never negative, so a symbolic quotient floors.
fn div(p: &Expr, q: &Expr) -> Result<Expr, String> {
    match (p.as_int(), q.as_int()) {
        (_, Some(0)) => Err("division of a shape value by zero".into()),
        (Some(a), Some(b)) => a
            .checked_div(b)
            .map(Expr::int)
            .ok_or_else(|| format!("{a} / {b} overflows")),
        (_, Some(b)) if b > 0 => Ok(p.floor_div(q)),
        _ => Err(format!(
            "dividing {p} by {q} cannot be folded (the divisor must be a positive constant)"
        )),
    }
}

/// `Range(start, limit, delta)` of constants (a symbolic length would need a data-dependent
/// shape kiln does not have).
fn range(ins: &[Ints]) -> Result<Ints, String> {
    let scalar = |v: &Ints| match (v.vals.len(), v.vals[0].as_int()) {
        (1, Some(x)) => Ok(x),
        _ => Err(format!(
            "Range over {} cannot be folded at import: its bounds must be constants",
            show(&v.vals)
        )),
    };
    let (start, limit, delta) = (scalar(&ins[0])?, scalar(&ins[1])?, scalar(&ins[2])?);
    if delta == 0 {
        return Err("Range with delta 0".into());
    }
    let span = i128::from(limit) - i128::from(start);
    let n = (span + i128::from(delta) - i128::from(delta.signum())) / i128::from(delta);
    let n = n.max(0);
    if n > 1 << 20 {
        return Err(format!(
            "Range of {n} elements is too long to fold at import"
        ));
    }
    let vals = (0..n as i64).map(|k| start + k * delta).collect();
    Ok(Ints::fixed(vals, false))
}

/// A folded shape as an op takes it: kiln dims, or the shape of another value.
pub(crate) enum Target {
    Dims(Vec<Dim>),
    Like(NodeId),
}

fn unexpressible(node: &NodeProto, vals: &[Expr]) -> NodeError {
    let reshape = super::op_type(node) == "Reshape";
    NodeError::Failed(Attrs::new(node).err(format!(
        "the shape {} cannot be folded: kiln dims are constants or input symbols{}, and it is \
         not the whole shape of another value",
        show(vals),
        if reshape { " (one may be -1)" } else { "" }
    )))
}

/// The target of `Reshape(x, shape)`: ONNX's `0` copies `x`'s dim (unless `allowzero`), one
/// element that is not a constant or a plain symbol becomes `-1` (the reshape infers it), and
/// a shape read whole from another value becomes `reshape_as` that value.
pub(crate) fn reshape_target(
    imp: &mut Importer,
    node: &NodeProto,
    x: NodeId,
    shape: &Ints,
    allowzero: bool,
) -> Result<Target, NodeError> {
    let mut vals = shape.vals.clone();
    if !allowzero && vals.iter().any(|v| v.as_int() == Some(0)) {
        let in_shape = imp.symbolic_shape(x)?;
        for (i, v) in vals.iter_mut().enumerate() {
            if v.as_int() == Some(0) {
                *v = in_shape.get(i).cloned().ok_or_else(|| {
                    NodeError::Failed(Attrs::new(node).err(format!(
                        "shape element {i} is 0 (copy the input's dim) but the input has rank {}",
                        in_shape.len()
                    )))
                })?;
            }
        }
    }
    let mut unknown = vals.iter().any(|v| v.as_int() == Some(-1));
    let mut dims = Vec::with_capacity(vals.len());
    for v in &vals {
        match as_dim(v) {
            Some(d) => dims.push(d),
            None if !unknown => {
                unknown = true;
                dims.push(Dim::Fixed(-1));
            }
            None => {
                return match shape.like {
                    Some(like) => Ok(Target::Like(like)),
                    None => Err(unexpressible(node, &vals)),
                };
            }
        }
    }
    Ok(Target::Dims(dims))
}

/// The target of `Expand`/`ConstantOfShape`: kiln dims where every element is one, else the
/// shape of the value it was read from.
pub(crate) fn broadcast_target(node: &NodeProto, shape: &Ints) -> Result<Target, NodeError> {
    if let Some(dims) = shape.vals.iter().map(as_dim).collect::<Option<Vec<_>>>() {
        return Ok(Target::Dims(dims));
    }
    match shape.like {
        Some(like) => Ok(Target::Like(like)),
        None => Err(unexpressible(node, &shape.vals)),
    }
}
