//! Models as `.kiln` text, generated: a small CNN, a transformer block and ResNet-18, with
//! their weights declared as parameters (`param`) so that weights are bound, never hashed.
use std::fmt::Write;

/// A graph being written: statements, and the parameters it declares (name, shape).
#[derive(Default)]
pub struct Model {
    pub lines: Vec<String>,
    pub params: Vec<(String, Vec<usize>)>,
    count: usize,
}

impl Model {
    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}{}", self.count)
    }
    /// Declares a parameter and returns its name.
    pub fn param(&mut self, base: &str, shape: &[usize]) -> String {
        let name = self.fresh(base);
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        self.lines
            .push(format!("param {name}: f32[{}]", dims.join(", ")));
        self.params.push((name.clone(), shape.to_vec()));
        name
    }
    /// Adds `name = call` and returns the name.
    pub fn op(&mut self, base: &str, call: String) -> String {
        let name = self.fresh(base);
        self.lines.push(format!("{name} = {call}"));
        name
    }
    pub fn text(&self, graph: &str, inputs: &[&str], outputs: &[&str]) -> String {
        let mut s = format!("graph {graph}\n");
        for i in inputs {
            writeln!(s, "input {i}").expect("writing to a String");
        }
        for l in &self.lines {
            writeln!(s, "{l}").expect("writing to a String");
        }
        writeln!(s, "output {}", outputs.join(", ")).expect("writing to a String");
        s
    }

    /// conv2d (no bias) + batch_norm (eval) [+ relu].
    pub fn conv_bn(
        &mut self,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        relu: bool,
    ) -> String {
        let w = self.param("w", &[cout, cin, k, k]);
        let pad = k / 2;
        let c = self.op(
            "c",
            format!("conv2d({x}, {w}, stride=[{stride}, {stride}], padding=[{pad}, {pad}])"),
        );
        let y = self.batch_norm(&c, cout);
        if relu {
            self.op("r", format!("relu({y})"))
        } else {
            y
        }
    }

    pub fn batch_norm(&mut self, x: &str, c: usize) -> String {
        let (m, v) = (self.param("mean", &[c]), self.param("var", &[c]));
        let (g, b) = (self.param("gamma", &[c]), self.param("beta", &[c]));
        self.op(
            "bn",
            format!("batch_norm({x}, {m}, {v}, weight={g}, bias={b})"),
        )
    }

    pub fn linear(&mut self, x: &str, fin: usize, fout: usize) -> String {
        let w = self.param("fc_w", &[fout, fin]);
        let b = self.param("fc_b", &[fout]);
        self.op("fc", format!("linear({x}, {w}, {b})"))
    }
}

/// conv-bn-relu-pool-linear on `[N, 3, 32, 32]`.
pub fn small_cnn() -> (String, Vec<(String, Vec<usize>)>) {
    let mut m = Model::default();
    let y = m.conv_bn("x", 3, 16, 3, 1, true);
    let p = m.op("p", format!("max_pool2d({y}, kernel_size=[2, 2])"));
    let y = m.conv_bn(&p, 16, 32, 3, 1, true);
    let g = m.op("g", format!("adaptive_avg_pool2d({y}, output_size=[1, 1])"));
    let f = m.op("f", format!("flatten({g}, start_dim=1)"));
    let out = m.linear(&f, 32, 10);
    (
        m.text("small_cnn", &["x: f32[N, 3, 32, 32]"], &[&out]),
        m.params,
    )
}

/// A pre-norm transformer block on `[B, T, 64]`: 4-head attention and a gelu MLP.
pub fn transformer_block() -> (String, Vec<(String, Vec<usize>)>) {
    let (d, heads) = (64usize, 4usize);
    let hd = d / heads;
    let mut m = Model::default();
    let (g1, b1) = (m.param("ln_g", &[d]), m.param("ln_b", &[d]));
    let h = m.op("h", format!("layer_norm(x, [{d}], weight={g1}, bias={b1})"));
    let mut qkv = Vec::new();
    for (name, perm) in [
        ("q", "[0, 2, 1, 3]"),
        ("k", "[0, 2, 3, 1]"),
        ("v", "[0, 2, 1, 3]"),
    ] {
        let p = m.linear(&h, d, d);
        let r = m.op(name, format!("reshape({p}, [B, T, {heads}, {hd}])"));
        qkv.push(m.op(name, format!("permute({r}, {perm})")));
    }
    let s = m.op("s", format!("matmul({}, {})", qkv[0], qkv[1]));
    let s = m.op("s", format!("mul({s}, {})", 1.0 / (hd as f64).sqrt()));
    let p = m.op("attn", format!("softmax({s}, dim=-1)"));
    let o = m.op("o", format!("matmul({p}, {})", qkv[2]));
    let o = m.op("o", format!("permute({o}, [0, 2, 1, 3])"));
    let o = m.op("o", format!("reshape({o}, [B, T, {d}])"));
    let a = m.linear(&o, d, d);
    let r1 = m.op("res", format!("add(x, {a})"));
    let (g2, b2) = (m.param("ln_g", &[d]), m.param("ln_b", &[d]));
    let h2 = m.op(
        "h",
        format!("layer_norm({r1}, [{d}], weight={g2}, bias={b2})"),
    );
    let u = m.linear(&h2, d, 4 * d);
    let u = m.op("gelu", format!("gelu({u})"));
    let dn = m.linear(&u, 4 * d, d);
    let y = m.op("y", format!("add({r1}, {dn})"));
    (
        m.text("transformer_block", &["x: f32[B, T, 64]"], &[&y]),
        m.params,
    )
}

/// torchvision's ResNet-18 on `[N, 3, 224, 224]`, batch norm in eval mode.
pub fn resnet18() -> (String, Vec<(String, Vec<usize>)>) {
    let mut m = Model::default();
    let y = m.conv_bn("x", 3, 64, 7, 2, true);
    let mut y = m.op(
        "pool",
        format!("max_pool2d({y}, kernel_size=[3, 3], stride=[2, 2], padding=[1, 1])"),
    );
    let mut cin = 64;
    for (cout, stride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
        for block in 0..2 {
            let s = if block == 0 { stride } else { 1 };
            let a = m.conv_bn(&y, cin, cout, 3, s, true);
            let b = m.conv_bn(&a, cout, cout, 3, 1, false);
            let skip = if s != 1 || cin != cout {
                m.conv_bn(&y, cin, cout, 1, s, false)
            } else {
                y.clone()
            };
            let sum = m.op("sum", format!("add({b}, {skip})"));
            y = m.op("r", format!("relu({sum})"));
            cin = cout;
        }
    }
    let g = m.op("g", format!("adaptive_avg_pool2d({y}, output_size=[1, 1])"));
    let f = m.op("f", format!("flatten({g}, start_dim=1)"));
    let out = m.linear(&f, 512, 1000);
    (
        m.text("resnet18", &["x: f32[N, 3, 224, 224]"], &[&out]),
        m.params,
    )
}
