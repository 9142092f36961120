//! A malformed program (a damaged artifact's, a scheduler bug's) is refused by codegen with a
//! typed [`CodegenError`] naming the kernel and the problem, never a panic.
mod common;

use std::error::Error;

use common::*;
use kiln_cpu::{CodegenError, CpuError};
use kiln_shape::Policy;

const SRC: &str = "graph f\ninput x: f32[N, 8]\ny = exp(x)\noutput y";

fn program() -> kiln_sched::Program {
    schedule(&parse(SRC), &[vec![3, 8]], &Policy::Dynamic)
}

fn codegen_error(p: &kiln_sched::Program) -> (String, CodegenError, String) {
    match kiln_cpu::compile(p) {
        Err(err @ CpuError::Codegen { .. }) => {
            let text = err.to_string();
            let source = err
                .source()
                .and_then(|s| s.downcast_ref::<CodegenError>())
                .cloned()
                .expect("the typed reason is the source");
            let CpuError::Codegen { kernel, .. } = err else {
                unreachable!()
            };
            (kernel, source, text)
        }
        Err(other) => panic!("expected a codegen error, got {other}"),
        Ok(_) => panic!("expected a codegen error, the program compiled"),
    }
}

#[test]
fn a_store_of_an_undefined_value_is_a_typed_error() {
    let mut p = program();
    assert!(
        kiln_cpu::compile(&p).is_ok(),
        "the unchanged program compiles"
    );
    let k = &mut p.kernels[0];
    let bad = u32::try_from(k.body.len() + 7).unwrap();
    k.stores[0].value = bad;
    let name = k.name.clone();
    let (kernel, source, text) = codegen_error(&p);
    assert_eq!(kernel, name);
    assert_eq!(source, CodegenError::UndefinedStoreValue { id: bad });
    assert!(
        text.contains(&name) && text.contains("store of undefined value"),
        "{text}"
    );
}

#[test]
fn a_symbol_without_a_value_is_a_typed_error() {
    let mut p = program();
    assert!(!p.symbols.is_empty(), "the program has the dynamic size N");
    p.symbols.clear();
    let (_, source, text) = codegen_error(&p);
    assert!(
        matches!(source, CodegenError::UnboundSymbol { ref name } if name == "N"),
        "{source:?}"
    );
    assert!(text.contains("symbol `N`"), "{text}");
}

#[test]
fn an_undeclared_buffer_is_a_typed_error() {
    let mut p = program();
    let k = &mut p.kernels[0];
    k.stores[0].buf = 99;
    assert_eq!(
        codegen_error(&p).1,
        CodegenError::UndeclaredBuffer { buf: 99 }
    );
}
