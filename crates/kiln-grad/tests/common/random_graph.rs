//! Random differentiable graphs for the property tests: a chain of up to 8 ops (smooth
//! elementwise math, broadcasting binaries, reductions, softmax, layout ops, matmul, pooling)
//! over f32/f64 inputs with small static shapes, as kiln text. Each op reads the latest value, and a second
//! operand that is an earlier value or a new input, so values are shared (gradients
//! accumulate) and broadcast. Kinks are avoided: no relu/abs, divisors kept >= 1.
#![allow(dead_code)]

/// A graph's text, its inputs (name, shape), and its one output.
#[derive(Debug, Clone)]
pub struct RandomGraph {
    pub text: String,
    pub inputs: Vec<(String, Vec<usize>)>,
    pub output: String,
}

impl RandomGraph {
    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|(n, _)| n.as_str()).collect()
    }
    pub fn shapes(&self) -> Vec<Vec<usize>> {
        self.inputs.iter().map(|(_, s)| s.clone()).collect()
    }
}

/// The largest number of elements a value may have (keeps finite differences cheap).
const MAX_NUMEL: usize = 48;

struct Gen {
    dtype: &'static str,
    lines: Vec<String>,
    inputs: Vec<(String, Vec<usize>)>,
    values: Vec<(String, Vec<usize>)>,
}

fn dims(shape: &[usize]) -> String {
    let d: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", d.join(", "))
}

impl Gen {
    fn input(&mut self, shape: Vec<usize>) -> String {
        let name = format!("x{}", self.inputs.len());
        self.inputs.push((name.clone(), shape.clone()));
        self.values.push((name.clone(), shape));
        name
    }

    fn push(&mut self, call: String, shape: Vec<usize>) {
        let name = format!("v{}", self.lines.len());
        self.lines.push(format!("{name} = {call}"));
        self.values.push((name, shape));
    }

    fn last(&self) -> (String, Vec<usize>) {
        self.values.last().cloned().expect("a value")
    }

    /// A second operand broadcasting against `shape`: an earlier value with a compatible
    /// shape (when `c` says so and there is one) or a new input with some dims set to 1
    /// and maybe fewer leading dims.
    fn partner(&mut self, shape: &[usize], c: u32) -> (String, Vec<usize>) {
        if c.is_multiple_of(3) {
            let earlier = self.values[..self.values.len() - 1]
                .iter()
                .rev()
                .find(|(_, s)| broadcasts(s, shape) == Some(shape.to_vec()));
            if let Some(v) = earlier {
                return v.clone();
            }
        }
        let drop = (c as usize / 3) % (shape.len() + 1);
        let mut b: Vec<usize> = shape[drop.min(shape.len().saturating_sub(1))..].to_vec();
        for (i, d) in b.iter_mut().enumerate() {
            if (c >> (4 + i)) & 1 == 1 {
                *d = 1;
            }
        }
        let name = self.input(b.clone());
        (name, b)
    }

    /// One op on the latest value, chosen by `c`; `tanh` where the chosen op does not apply
    /// to its shape.
    fn step(&mut self, c: u32) {
        let (x, shape) = self.last();
        let at = At {
            c,
            rank: shape.len(),
            numel: shape.iter().product(),
            x,
            shape,
        };
        let made = match c % 18 {
            0 | 1 => self.math(&at),
            2..=4 => self.binary(&at),
            5..=7 => self.reduction(&at),
            8..=13 => self.layout(&at),
            14 | 15 => self.matmul(&at),
            _ => self.pool(&at),
        };
        if let Some((call, out)) = made {
            self.push(call, out);
        } else {
            self.push(format!("tanh({})", at.x), at.shape);
        }
    }

    /// A name for an intermediate the next value uses.
    fn aux(&mut self, prefix: &str, call: String) -> String {
        let name = format!("{prefix}{}", self.lines.len());
        self.lines.push(format!("{name} = {call}"));
        name
    }

    fn math(&mut self, a: &At) -> Made {
        let x = &a.x;
        if a.c % 18 == 1 {
            let t = self.aux("t", format!("tanh({x})"));
            return Some((format!("exp({t})"), a.shape.clone()));
        }
        let f = ["tanh", "sigmoid", "sin", "cos", "silu", "gelu", "neg"][a.pick(7)];
        Some((format!("{f}({x})"), a.shape.clone()))
    }

    fn binary(&mut self, a: &At) -> Made {
        let (b, bs) = self.partner(&a.shape, a.c >> 4);
        let out = broadcasts(&a.shape, &bs).expect("partners broadcast");
        // maximum/minimum: ties between distinct values are improbable, and a value tied
        // with a copy of itself gets the whole gradient either way.
        let op = ["add", "sub", "mul", "div", "maximum", "minimum"][a.pick(6)];
        if op == "div" {
            // A divisor >= 1, away from the pole.
            let sq = self.aux("q", format!("mul({b}, {b})"));
            let d = self.aux("d", format!("add({sq}, 1.0)"));
            return Some((format!("div({}, {d})", a.x), out));
        }
        Some((format!("{op}({}, {b})", a.x), out))
    }

    fn reduction(&mut self, a: &At) -> Made {
        if a.rank == 0 {
            return None;
        }
        let (x, dim) = (&a.x, a.pick(a.rank));
        if a.c % 18 == 7 {
            let op = ["softmax", "log_softmax"][a.bit(12) as usize];
            // Weighted, or a softmax's sum would have a zero gradient.
            let w = self.input(a.shape.clone());
            let s = self.aux("s", format!("{op}({x}, dim={dim})"));
            return Some((format!("mul({s}, {w})"), a.shape.clone()));
        }
        let keep = a.bit(12);
        let op = ["sum", "mean", "amax", "amin"][((a.c >> 13) as usize) % 4];
        let mut out = a.shape.clone();
        if keep {
            out[dim] = 1;
        } else {
            out.remove(dim);
        }
        Some((format!("{op}({x}, dim={dim}, keepdim={keep})"), out))
    }

    fn layout(&mut self, a: &At) -> Made {
        let (x, rank, numel) = (&a.x, a.rank, a.numel);
        if rank == 0 {
            return None;
        }
        let dim = a.pick(rank);
        let mut out = a.shape.clone();
        let call = match a.c % 18 {
            8 if rank >= 2 => {
                let j = ((a.c >> 12) as usize) % rank;
                out.swap(dim, j);
                format!("transpose({x}, {dim}, {j})")
            }
            9 if numel * 3 <= MAX_NUMEL => {
                let at = a.pick(rank + 1);
                let u = self.aux("u", format!("unsqueeze({x}, {at})"));
                out.insert(at, 3);
                format!("expand({u}, {})", dims(&out))
            }
            10 => {
                out = vec![numel];
                format!("reshape({x}, [{numel}])")
            }
            11 if a.shape[dim] >= 2 => {
                let start = a.shape[dim] % 2;
                out[dim] = (a.shape[dim] - start).div_ceil(2);
                format!("slice({x}, dim={dim}, start={start}, step=2)")
            }
            12 if numel * 2 <= MAX_NUMEL => {
                // The value itself (its gradient accumulates twice) or a new input.
                let b = if a.bit(12) {
                    x.clone()
                } else {
                    self.input(a.shape.clone())
                };
                out[dim] *= 2;
                format!("cat([{x}, {b}], dim={dim})")
            }
            13 if numel + numel / a.shape[rank - 1] * 3 <= MAX_NUMEL => {
                out[rank - 1] += 3;
                format!("pad({x}, [2, 1], value=0.5)")
            }
            _ => return None,
        };
        Some((call, out))
    }

    fn matmul(&mut self, a: &At) -> Made {
        let rank = a.rank;
        if rank == 0 {
            return None;
        }
        let k = 1 + a.pick(3);
        let mut w = vec![a.shape[rank - 1], k];
        if rank == 3 && a.bit(12) {
            // A batched weight: the batch's size or 1 (broadcast).
            w.insert(0, if a.bit(13) { a.shape[0] } else { 1 });
        }
        let wn = self.input(w);
        let mut out = a.shape.clone();
        out[rank - 1] = k;
        Some((format!("matmul({}, {wn})", a.x), out))
    }

    fn pool(&mut self, a: &At) -> Made {
        let (x, r) = (&a.x, a.rank);
        if !(r == 3 || r == 4) || a.shape[r - 2] < 2 || a.shape[r - 1] < 2 {
            return None;
        }
        // Windows of 2 with stride 1 overlap, so an element's gradient sums over several.
        let mut out = a.shape.clone();
        let call = match a.pick(3) {
            0 => {
                out[r - 2] -= 1;
                out[r - 1] -= 1;
                format!("max_pool2d({x}, 2, 1)")
            }
            1 => {
                out[r - 2] += 1;
                out[r - 1] += 1;
                format!("avg_pool2d({x}, 2, 1, padding=1)")
            }
            _ => {
                (out[r - 2], out[r - 1]) = (1, 2);
                format!("adaptive_avg_pool2d({x}, [1, 2])")
            }
        };
        Some((call, out))
    }
}

/// The next value's call and shape, or `None` where the op does not apply.
type Made = Option<(String, Vec<usize>)>;

/// The latest value and the choice word the next op is drawn from.
struct At {
    c: u32,
    x: String,
    shape: Vec<usize>,
    rank: usize,
    numel: usize,
}

impl At {
    /// A choice in `0..n` from bits 8 and up.
    fn pick(&self, n: usize) -> usize {
        ((self.c >> 8) as usize) % n.max(1)
    }
    fn bit(&self, i: u32) -> bool {
        (self.c >> i) & 1 == 1
    }
}

/// The broadcast of two shapes, or `None`.
pub fn broadcasts(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// The graph `choices` describe (the first picks the first input's shape), in `dtype`.
pub fn random_graph(choices: &[u32], dtype: &'static str) -> RandomGraph {
    let mut g = Gen {
        dtype,
        lines: Vec::new(),
        inputs: Vec::new(),
        values: Vec::new(),
    };
    let c0 = choices.first().copied().unwrap_or(0);
    let rank = 1 + (c0 % 3) as usize;
    let shape: Vec<usize> = (0..rank)
        .map(|i| 2 + ((c0 >> (2 + 2 * i)) % 3) as usize)
        .collect();
    g.input(shape);
    for &c in choices.iter().skip(1).take(8) {
        g.step(c);
    }
    if g.lines.is_empty() {
        g.step(0);
    }
    let (last, _) = g.last();
    let mut text = String::from("graph random\n");
    for (name, shape) in &g.inputs {
        text += &format!("input {name}: {}{}\n", g.dtype, dims(shape));
    }
    for line in &g.lines {
        text += line;
        text.push('\n');
    }
    text += &format!("output {last}\n");
    RandomGraph {
        text,
        inputs: g.inputs,
        output: last,
    }
}
