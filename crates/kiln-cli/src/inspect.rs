//! `kiln inspect model.onnx`: the model's opset, producer, inputs, outputs and op counts, and
//! whether kiln imports it (every unsupported node at once when it does not).
use std::collections::BTreeMap;

use crate::cli::InspectArgs;
use crate::error::{CliError, CliResult};

fn onnx_error(args: &InspectArgs, source: kiln_onnx::OnnxError) -> CliError {
    CliError::Onnx {
        path: args.model.clone(),
        source: Box::new(source),
    }
}

/// `name: elem[dims]` of a graph value, as the file declares it.
fn value_text(v: &kiln_onnx::proto::ValueInfoProto) -> String {
    use kiln_onnx::proto::tensor_shape_proto::dimension::Value as D;
    use kiln_onnx::proto::type_proto::Value as T;
    let name = v.name.clone().unwrap_or_default();
    let Some(T::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return format!("{name}: (not a tensor)");
    };
    let dims: Vec<String> = t
        .shape
        .iter()
        .flat_map(|s| s.dim.iter())
        .map(|d| match &d.value {
            Some(D::DimValue(v)) => v.to_string(),
            Some(D::DimParam(p)) => p.clone(),
            None => "?".to_string(),
        })
        .collect();
    format!(
        "{name}: elem_type {}[{}]",
        t.elem_type.unwrap_or(0),
        dims.join(", ")
    )
}

pub fn inspect(args: InspectArgs) -> CliResult<()> {
    let bytes = std::fs::read(&args.model).map_err(|source| CliError::Read {
        what: "ONNX model",
        path: args.model.clone(),
        source,
    })?;
    let what = args.model.display().to_string();
    let proto = kiln_onnx::decode_model(&bytes, &what).map_err(|e| onnx_error(&args, e))?;
    let graph = proto.graph.clone().unwrap_or_default();
    let inits: Vec<&str> = graph
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    let inputs: Vec<String> = graph
        .input
        .iter()
        .filter(|i| !inits.contains(&i.name.as_deref().unwrap_or_default()))
        .map(value_text)
        .collect();
    let outputs: Vec<String> = graph.output.iter().map(value_text).collect();
    let mut ops: BTreeMap<String, usize> = BTreeMap::new();
    for n in &graph.node {
        *ops.entry(n.op_type.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let opsets: Vec<String> = proto
        .opset_import
        .iter()
        .map(|o| {
            format!(
                "{}:{}",
                o.domain
                    .clone()
                    .filter(|d| !d.is_empty())
                    .unwrap_or("ai.onnx".into()),
                o.version.unwrap_or(0)
            )
        })
        .collect();
    let dir = args.model.parent().unwrap_or(std::path::Path::new("."));
    let imported = kiln_onnx::import_model(&proto, dir);
    let verdict = match &imported {
        Ok(m) => format!(
            "kiln imports it: {} nodes, {} parameters",
            m.graph.len(),
            m.params.len()
        ),
        Err(e) => format!("kiln cannot import it: {e}"),
    };
    if args.json {
        let v = serde_json::json!({
            "model": what,
            "producer": proto.producer_name.clone().unwrap_or_default(),
            "opsets": opsets,
            "inputs": inputs,
            "outputs": outputs,
            "initializers": inits.len(),
            "ops": ops,
            "importable": imported.is_ok(),
            "verdict": verdict,
        });
        println!("{v}");
        return Ok(());
    }
    println!("{what}");
    println!(
        "  producer  {}",
        proto.producer_name.clone().unwrap_or_default()
    );
    println!("  opsets    {}", opsets.join(", "));
    for i in &inputs {
        println!("  input     {i}");
    }
    for o in &outputs {
        println!("  output    {o}");
    }
    println!("  weights   {} initializers", inits.len());
    let counts: Vec<String> = ops.iter().map(|(o, n)| format!("{o} x{n}")).collect();
    println!("  ops       {}", counts.join(", "));
    println!("  {verdict}");
    Ok(())
}
