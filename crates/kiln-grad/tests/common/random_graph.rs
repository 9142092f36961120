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

    fn step(&mut self, c: u32) {
        let (x, shape) = self.last();
        let rank = shape.len();
        let numel: usize = shape.iter().product();
        let pick = |n: usize| ((c >> 8) as usize) % n.max(1);
        match c % 18 {
            0 => {
                let f = ["tanh", "sigmoid", "sin", "cos", "silu", "gelu", "neg"][pick(7)];
                self.push(format!("{f}({x})"), shape);
            }
            1 => {
                let t = format!("t{}", self.lines.len());
                self.lines.push(format!("{t} = tanh({x})"));
                self.push(format!("exp({t})"), shape);
            }
            2..=4 => {
                let (b, bs) = self.partner(&shape, c >> 4);
                let out = broadcasts(&shape, &bs).expect("partners broadcast");
                // maximum/minimum: ties between distinct values are improbable, and a value
                // tied with a copy of itself gets the whole gradient either way.
                let op = ["add", "sub", "mul", "div", "maximum", "minimum"][pick(6)];
                if op == "div" {
                    // A divisor >= 1, away from the pole.
                    let (sq, d) = (
                        format!("q{}", self.lines.len()),
                        format!("d{}", self.lines.len()),
                    );
                    self.lines.push(format!("{sq} = mul({b}, {b})"));
                    self.lines.push(format!("{d} = add({sq}, 1.0)"));
                    self.push(format!("div({x}, {d})"), out);
                } else {
                    self.push(format!("{op}({x}, {b})"), out);
                }
            }
            5 | 6 if rank > 0 => {
                let dim = pick(rank);
                let keep = (c >> 12) & 1 == 1;
                let op = ["sum", "mean", "amax", "amin"][((c >> 13) as usize) % 4];
                let mut out = shape.clone();
                if keep {
                    out[dim] = 1;
                } else {
                    out.remove(dim);
                }
                self.push(format!("{op}({x}, dim={dim}, keepdim={keep})"), out);
            }
            7 if rank > 0 => {
                let op = ["softmax", "log_softmax"][((c >> 12) & 1) as usize];
                let dim = pick(rank);
                // Weighted, or a softmax's sum would have a zero gradient.
                let w = self.input(shape.clone());
                let s = format!("s{}", self.lines.len());
                self.lines.push(format!("{s} = {op}({x}, dim={dim})"));
                self.push(format!("mul({s}, {w})"), shape);
            }
            8 if rank >= 2 => {
                let (i, j) = (pick(rank), ((c >> 12) as usize) % rank);
                let mut out = shape.clone();
                out.swap(i, j);
                self.push(format!("transpose({x}, {i}, {j})"), out);
            }
            9 if rank >= 1 && numel * 3 <= MAX_NUMEL => {
                let dim = pick(rank + 1);
                let u = format!("u{}", self.lines.len());
                self.lines.push(format!("{u} = unsqueeze({x}, {dim})"));
                let mut out = shape.clone();
                out.insert(dim, 3);
                self.push(format!("expand({u}, {})", dims(&out)), out);
            }
            10 if rank >= 1 => {
                self.push(format!("reshape({x}, [{numel}])"), vec![numel]);
            }
            11 if rank >= 1 && shape[pick(rank)] >= 2 => {
                let dim = pick(rank);
                let mut out = shape.clone();
                let start = shape[dim] % 2;
                out[dim] = (shape[dim] - start).div_ceil(2);
                self.push(format!("slice({x}, dim={dim}, start={start}, step=2)"), out);
            }
            12 if rank >= 1 && numel * 2 <= MAX_NUMEL => {
                let dim = pick(rank);
                // The value itself (its gradient accumulates twice) or a new input.
                let b = if (c >> 12) & 1 == 1 {
                    x.clone()
                } else {
                    self.input(shape.clone())
                };
                let mut out = shape.clone();
                out[dim] *= 2;
                self.push(format!("cat([{x}, {b}], dim={dim})"), out);
            }
            13 if rank >= 1 && numel + numel / shape[rank - 1] * 3 <= MAX_NUMEL => {
                let mut out = shape.clone();
                out[rank - 1] += 3;
                self.push(format!("pad({x}, [2, 1], value=0.5)"), out);
            }
            14 | 15 if rank >= 1 => {
                let n = shape[rank - 1];
                let k = 1 + pick(3);
                let mut w = vec![n, k];
                if rank == 3 && (c >> 12) & 1 == 1 {
                    w.insert(0, if (c >> 13) & 1 == 1 { shape[0] } else { 1 });
                }
                let wn = self.input(w);
                let mut out = shape.clone();
                out[rank - 1] = k;
                self.push(format!("matmul({x}, {wn})"), out);
            }
            16 | 17 if (rank == 3 || rank == 4) && shape[rank - 2] >= 2 && shape[rank - 1] >= 2 => {
                // Windows of 2 with stride 1 overlap, so an element's gradient sums over
                // several windows.
                let mut out = shape.clone();
                let call = match pick(3) {
                    0 => {
                        out[rank - 2] -= 1;
                        out[rank - 1] -= 1;
                        format!("max_pool2d({x}, 2, 1)")
                    }
                    1 => {
                        out[rank - 2] += 1;
                        out[rank - 1] += 1;
                        format!("avg_pool2d({x}, 2, 1, padding=1)")
                    }
                    _ => {
                        out[rank - 2] = 1;
                        out[rank - 1] = 2;
                        format!("adaptive_avg_pool2d({x}, [1, 2])")
                    }
                };
                self.push(call, out);
            }
            _ => self.push(format!("tanh({x})"), shape),
        }
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
