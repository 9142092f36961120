//! The `.kiln` text parser (with validation and shape inference) on arbitrary text. A graph
//! that parses must print to text that parses again to the same structure.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(graph) = kiln_ir::parse(text) {
        let printed = kiln_ir::print(&graph);
        let again = kiln_ir::parse(&printed)
            .unwrap_or_else(|e| panic!("printed graph does not parse: {e}\n{printed}"));
        assert!(
            kiln_ir::print::same_structure(&graph, &again),
            "print/parse changed the graph:\n{printed}"
        );
        let _ = kiln_ir::canon::canonical_bytes(&graph);
    }
});
