//! The ONNX importer on arbitrary bytes: decoding a `ModelProto` and importing it (op table,
//! shape folding, initializers, attributes) must give a model or a typed error, never a
//! panic. A model that imports must validate and canonicalise without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = kiln_onnx::decode_model(data, "fuzz input") else {
        return;
    };
    // External data is refused here: the directory is empty.
    let dir = std::env::temp_dir().join("kiln-fuzz-onnx-empty");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(m) = kiln_onnx::import_model(&model, &dir) {
        let _ = kiln_ir::validate(&m.graph);
        let _ = kiln_ir::canon::canonical_bytes(&m.graph);
    }
});
