//! Canonical bytes and graph hashes: invariant to how a graph is written, sensitive to what it
//! computes.
use kiln_ir::canon::{CANON_VERSION, canonical_bytes, graph_hash};
use kiln_ir::parse::parse_unchecked;

fn hash(src: &str) -> [u8; 32] {
    graph_hash(&parse_unchecked(src).unwrap_or_else(|e| panic!("{e}\n{src}")))
}

const BASE: &str = "graph base
input x: f32[N, C, H, W]
input s: f32[1, C, 1, 1]
k = tensor([1.0, 2.0])
t = mul(x, s)
r = relu(t)
p = max_pool2d(r, kernel_size=3, stride=2)
q = mul(p, 0.5)
u = add(q, k)
output p, u
";

#[test]
fn bytes_are_versioned_and_deterministic() {
    let g = parse_unchecked(BASE).unwrap();
    let bytes = canonical_bytes(&g);
    assert!(bytes.starts_with(CANON_VERSION));
    assert_eq!(bytes, canonical_bytes(&parse_unchecked(BASE).unwrap()));
    assert_eq!(graph_hash(&g), hash(BASE));
}

#[test]
fn invariant_to_how_the_graph_is_written() {
    let same = [
        // graph name, comments, attribute order, defaults spelled out
        BASE.replace("graph base", "graph other  # renamed")
            .replace(
                "kernel_size=3, stride=2",
                "stride=2, kernel_size=3, padding=0, dilation=1",
            ),
        // intermediate names
        BASE.replace("t = mul(x, s)\nr = relu(t)", "a1 = mul(x, s)\nr = relu(a1)"),
        // order of independent statements
        BASE.replace(
            "k = tensor([1.0, 2.0])\nt = mul(x, s)\n",
            "t = mul(x, s)\nk = tensor([1.0, 2.0])\n",
        ),
        // dead code
        BASE.replace(
            "r = relu(t)\n",
            "r = relu(t)\ndead = exp(r)\nd2 = sum(dead)\n",
        ),
        // the same literal spelled differently
        BASE.replace("mul(p, 0.5)", "mul(p, 5e-1)"),
    ];
    for src in same {
        assert_eq!(hash(&src), hash(BASE), "{src}");
    }
}

#[test]
fn sensitive_to_every_semantic_change() {
    let changes = [
        ("relu(t)", "sigmoid(t)"),       // an op
        ("mul(p, 0.5)", "mul(p, 0.25)"), // a scalar
        ("mul(p, 0.5)", "mul(0.5, p)"),  // operand order
        ("stride=2", "stride=1"),        // an argument
        (
            "kernel_size=3, stride=2",
            "kernel_size=3, stride=2, ceil_mode=true",
        ),
        ("input s: f32", "input s: f16"), // a dtype
        ("[1, C, 1, 1]", "[1, C, 1, 2]"), // a declared dim
        ("[N, C, H, W]", "[M, C, H, W]"), // a symbol name
        (
            "input x: f32[N, C, H, W]\ninput s: f32[1, C, 1, 1]",
            "input s: f32[1, C, 1, 1]\ninput x: f32[N, C, H, W]",
        ), // input order
        ("output p, u", "output u, p"),   // output order
        ("u = add(q, k)\noutput p, u", "v = add(q, k)\noutput p, v"), // an output name
        ("tensor([1.0, 2.0])", "tensor([1.0, 3.0])"), // a constant value
        ("tensor([1.0, 2.0])", "tensor([1.0, 2.0], dtype=f64)"), // a constant dtype
        ("tensor([1.0, 2.0])", "tensor([[1.0, 2.0]])"), // a constant shape
        ("mul(p, 0.5)", "mul(p, -0.0)"),
    ];
    for (from, to) in changes {
        assert!(BASE.contains(from), "{from}");
        let changed = BASE.replace(from, to);
        assert_ne!(hash(&changed), hash(BASE), "{from} -> {to}");
    }
    // The input name is the calling convention.
    let renamed = BASE
        .replace("input s:", "input scale:")
        .replace("mul(x, s)", "mul(x, scale)");
    assert_ne!(hash(&renamed), hash(BASE));
    // An unused input still changes the signature.
    let extra = BASE.replace("input s:", "input unused: f32[1]\ninput s:");
    assert_ne!(hash(&extra), hash(BASE));
    // 0.0 and -0.0 are different bit patterns.
    assert_ne!(
        hash("graph a\ninput x: f32[N]\ny = add(x, 0.0)\noutput y"),
        hash("graph a\ninput x: f32[N]\ny = add(x, -0.0)\noutput y")
    );
}
