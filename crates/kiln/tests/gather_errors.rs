//! Gather ops through `kiln::Compiler` on the CPU backend: out-of-range and negative indices
//! are typed run errors naming the node, the index value and the dim size (the output is not
//! touched, nothing aborts); a wrong index dtype is refused when the graph is built, naming
//! the node;
//! one dynamic entry serves several batch sizes.
use kiln::{CompileOptions, Compiler, KilnError, Tensor};

fn compile(src: &str) -> Result<kiln::CompiledFunction, KilnError> {
    let graph = kiln::parse(src).expect("graph parses");
    Compiler::new(CompileOptions::default().no_cache()).compile(&graph)
}

const EMBED: &str = "graph g\ninput ids: i64[N, L]\ninput w: f32[4, 3]\nemb = embedding(ids, w)\n\
                     output emb\n";

#[test]
fn out_of_range_and_negative_indices_are_typed_errors() {
    let f = compile(EMBED).unwrap();
    let w = Tensor::from_f32(&[4, 3], &(0..12).map(|i| i as f32).collect::<Vec<_>>());
    for bad in [4i64, 100, -1] {
        let ids = Tensor::from_i64(&[1, 3], &[0, bad, 2]);
        let e = f.run(&[&ids, &w]).unwrap_err();
        match &e {
            KilnError::CpuRun(kiln_cpu::RunError::IndexOutOfRange {
                node,
                index,
                dim,
                size,
                ..
            }) => assert_eq!((node.as_str(), *index, *dim, *size), ("emb", bad, 0, 4)),
            other => panic!("expected an index error, got {other:?}"),
        }
        assert!(
            e.to_string()
                .contains(&format!("index {bad} is out of bounds")),
            "{e}"
        );
    }
}

#[test]
fn one_dynamic_entry_serves_several_batch_sizes_with_torch_values() {
    let f = compile(EMBED).unwrap();
    let w = Tensor::from_f32(&[4, 3], &(0..12).map(|i| i as f32).collect::<Vec<_>>());
    // torch.nn.functional.embedding(ids, arange(12.).reshape(4, 3))
    let ids = Tensor::from_i64(&[2, 1], &[3, 1]);
    let out = f.run(&[&ids, &w]).unwrap();
    assert_eq!(out[0].shape, [2, 1, 3]);
    assert_eq!(out[0].to_f32(), [9.0, 10.0, 11.0, 3.0, 4.0, 5.0]);
    let ids = Tensor::from_i64(&[1, 4], &[0, 0, 2, 3]);
    let out = f.run(&[&ids, &w]).unwrap();
    assert_eq!(
        out[0].to_f32(),
        [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    );
}

#[test]
fn a_float_index_is_refused_when_the_graph_is_built_naming_the_node() {
    // Graph construction checks every op, so such a graph never reaches the compiler.
    let src = "graph g\ninput x: f32[3, 4]\ninput i: f32[2]\nsel = gather(x, 0, i)\noutput sel\n";
    match kiln::parse(src) {
        Err(kiln_ir::IrError::Invalid { node, op, msg }) => {
            assert_eq!((node.as_str(), op.as_str()), ("sel", "gather"));
            assert!(
                msg.contains("expected an int64 index tensor, found f32"),
                "{msg}"
            );
        }
        other => panic!("expected a typed error, got {other:?}"),
    }
}
