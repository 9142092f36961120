//! Through the library: an output that cannot be allocated is an error naming the output, its
//! shape and the bytes it needs, never an abort; a function that refused stays usable.
use kiln::{CompileOptions, Compiler, DType, DynamicPolicy, Tensor};

fn compile(text: &str, dynamic: DynamicPolicy) -> kiln::CompiledFunction {
    let graph = kiln::parse(text).expect("graph parses");
    Compiler::new(CompileOptions::default().no_cache().dynamic(dynamic))
        .compile(&graph)
        .expect("graph compiles")
}

#[test]
fn a_broadcast_output_too_large_for_memory_is_an_error() {
    let f = compile(
        "graph outer\ninput x: f32[N, 1]\ninput y: f32[1, M]\nz = add(x, y)\noutput z\n",
        DynamicPolicy::Auto,
    );
    let x = Tensor::zeros(DType::F32, &[1_000_000, 1]);
    let y = Tensor::zeros(DType::F32, &[1, 1_000_000]);
    let err = f.run(&[&x, &y]).unwrap_err().to_string();
    assert!(err.contains("output `z`"), "{err}");
    assert!(err.contains("shape [1000000, 1000000]"), "{err}");
    assert!(err.contains("needs 4000000000000 bytes"), "{err}");
    // The same function still runs shapes that fit.
    let (x, y) = (
        Tensor::from_f32(&[2, 1], &[1.0, 2.0]),
        Tensor::from_f32(&[1, 3], &[10.0, 20.0, 30.0]),
    );
    let out = f.run(&[&x, &y]).expect("small shapes run");
    assert_eq!(out[0].to_f32(), [11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
}

#[test]
fn a_wrapping_output_size_is_an_error_under_static() {
    let f = compile(
        "graph sum0\ninput x: f32[A, B, C]\ns = sum(x, dim=0)\noutput s\n",
        DynamicPolicy::Static,
    );
    let x = Tensor::zeros(DType::F32, &[0, 100_000_000_000, 100_000_000_000]);
    assert!(x.data.is_empty());
    let err = f.run(&[&x]).unwrap_err().to_string();
    assert!(err.contains("output `s`"), "{err}");
    assert!(err.contains("[100000000000, 100000000000]"), "{err}");
    assert!(err.contains("more than usize::MAX bytes"), "{err}");
}

#[test]
fn fresh_outputs_are_aligned_and_independent() {
    let f = compile(
        "graph ax\ninput x: f32[N]\ny = mul(x, 2.0)\noutput y\n",
        DynamicPolicy::Auto,
    );
    let n = 1 << 20; // large enough for the mapped, pooled path
    let x = Tensor::from_f32(&[n], &vec![1.5; n]);
    let a = f.run(&[&x]).unwrap();
    let b = f.run(&[&x]).unwrap(); // `a` is alive: `b` must get its own block
    assert_ne!(a[0].data.as_ptr(), b[0].data.as_ptr());
    for t in a.iter().chain(&b) {
        assert_eq!(t.data.as_ptr() as usize % 64, 0);
        assert!(t.to_f32().iter().all(|&v| v == 3.0));
    }
    drop(a);
    // A recycled block is completely rewritten by the next call.
    let x = Tensor::from_f32(&[n], &vec![-4.0; n]);
    let c = f.run(&[&x]).unwrap();
    assert!(c[0].to_f32().iter().all(|&v| v == -8.0));
}
