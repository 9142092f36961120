//! The CUDA backend has no pool backward: a program with one is refused at compile time with
//! a typed error naming the op (before NVRTC runs, so no GPU or libnvrtc is needed).
use kiln_cuda::{CudaError, compile};
use kiln_sched::{SchedOptions, schedule};
use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

#[test]
fn a_program_with_a_pool_backward_is_refused_naming_the_op() {
    let src = "graph pg\ninput x: f32[N, C, H, W]\ninput g: f32[N, C, OH, OW]\n\
               dx = max_pool2d_backward(g, x, 2)\noutput dx\n";
    let g = kiln_ir::parse(src).expect("parses");
    let values =
        bind_symbols(&g.input_dims(), &[vec![2, 3, 4, 4], vec![2, 3, 2, 2]]).expect("shapes bind");
    let mut env = ShapeEnv::new();
    let inputs = specialize_inputs(&mut env, &g.input_dims(), &values, &Policy::Dynamic)
        .expect("specialises");
    let p = schedule(&g, &mut env, &inputs, &SchedOptions::default()).expect("schedules");
    match compile(&p, "sm_90") {
        Err(CudaError::Library { call, msg }) => {
            assert!(call.contains("dx"), "{call}");
            assert!(
                msg.contains("max_pool2d_backward is not supported"),
                "{msg}"
            );
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}
