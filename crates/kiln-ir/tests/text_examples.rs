//! Every example graph in examples/graphs parses and validates, and prints back to the same
//! graph.
use std::path::PathBuf;

use kiln_ir::parse::{parse, parse_unchecked};
use kiln_ir::print;
use kiln_ir::print::same_structure;

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/graphs")
}

#[test]
fn every_example_graph_parses_and_round_trips() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(example_dir()).expect("examples/graphs exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("kiln") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("readable example");
        let g = parse(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let back = parse_unchecked(&print(&g)).expect("printed text parses");
        assert!(same_structure(&g, &back), "{}", path.display());
        seen.push(
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        );
    }
    for expected in [
        "pool_relu.kiln",
        "elementwise.kiln",
        "seed_add.kiln",
        "seed_mul.kiln",
        "seed_adaptive.kiln",
        "softmax.kiln",
    ] {
        assert!(seen.iter().any(|s| s == expected), "missing {expected}");
    }
}

#[test]
fn parse_validates_but_parse_unchecked_does_not() {
    let src = "graph g\ninput x: f32[N, D]\ny = softmax(x, dim=5)\noutput y";
    let unchecked = parse_unchecked(src).expect("syntactically fine");
    assert_eq!(unchecked.len(), 2);
    match parse(src) {
        Err(kiln_ir::IrError::Parse { .. }) | Ok(_) => panic!("validation should reject dim 5"),
        Err(e) => assert!(e.to_string().contains('y'), "{e}"),
    }
}
