//! The cache key: sha256 over separately hashed components, so that "why did this miss" can
//! name the component that differs (the seed's `debug_str`).
use kiln_cache::CacheKey;
use kiln_ir::{DType, Graph};
use kiln_shape::Expr;
use sha2::{Digest, Sha256};

use crate::options::CompileOptions;

/// One component of a key, with its own hash and a value a person can read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyComponent {
    pub name: String,
    pub hash: String,
    pub value: String,
}

/// kiln's identity: the crate version and a hash of the compiler crates' sources.
pub fn kiln_identity() -> String {
    format!(
        "kiln {} (source {})",
        env!("CARGO_PKG_VERSION"),
        &env!("KILN_SOURCE_HASH")[..16]
    )
}

/// A dim in the key: a constant, or a symbol by its *name* (never its value).
#[derive(serde::Serialize)]
enum KeyDim<'a> {
    Int(i64),
    Sym(&'a str),
    Expr(String),
}

fn key_dim(e: &Expr) -> KeyDim<'_> {
    match (e.as_int(), e.as_sym()) {
        (Some(v), _) => KeyDim::Int(v),
        (_, Some(s)) => KeyDim::Sym(s),
        _ => KeyDim::Expr(e.to_string()),
    }
}

fn component(name: &str, bytes: &[u8], value: String) -> KeyComponent {
    KeyComponent {
        name: name.to_string(),
        hash: hex::encode(Sha256::digest(bytes)),
        value,
    }
}

/// The hash of the graph's canonical form, computed once per compiled function.
pub fn graph_component(graph: &Graph) -> KeyComponent {
    let bytes = kiln_ir::canon::canonical_bytes(graph);
    let outputs = graph.output_names().join(", ");
    let value = format!(
        "graph {} ({} nodes, outputs {outputs})",
        graph.name,
        graph.len()
    );
    component("graph", &bytes, value)
}

/// Every component of the key for one specialisation.
pub fn components(
    graph: &KeyComponent,
    graph_decl: &Graph,
    inputs: &[Vec<Expr>],
    opts: &CompileOptions,
    target: &str,
) -> Vec<KeyComponent> {
    let metas: Vec<(&str, DType, Vec<KeyDim>)> = graph_decl
        .inputs()
        .iter()
        .zip(inputs)
        .map(|(d, s)| (d.name.as_str(), d.dtype, s.iter().map(key_dim).collect()))
        .collect();
    let readable: Vec<String> = graph_decl
        .inputs()
        .iter()
        .zip(inputs)
        .map(|(d, s)| {
            format!(
                "{}: {}[{}]",
                d.name,
                d.dtype,
                s.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let input_bytes = postcard::to_stdvec(&metas).expect("serialising plain data cannot fail");
    let options = (opts.backend, &opts.sched);
    let option_bytes = postcard::to_stdvec(&options).expect("serialising plain data cannot fail");
    let identity = kiln_identity();
    vec![
        graph.clone(),
        component("inputs", &input_bytes, readable.join("; ")),
        component(
            "options",
            &option_bytes,
            format!(
                "backend={} index_limit={}",
                opts.backend.name(),
                opts.sched.index_limit
            ),
        ),
        component("kiln", identity.as_bytes(), identity.clone()),
        component("target", target.as_bytes(), target.to_string()),
    ]
}

/// The key: sha256 over the components' names and hashes.
pub fn key_of(components: &[KeyComponent]) -> CacheKey {
    let mut h = Sha256::new();
    h.update(b"kiln-key-v1\0");
    for c in components {
        h.update(c.name.as_bytes());
        h.update([0]);
        h.update(c.hash.as_bytes());
        h.update([0]);
    }
    CacheKey(h.finalize().into())
}
