//! The lowering every test of this crate starts from: parse a graph, bind its inputs' shapes,
//! specialise them under a policy and schedule.
#![allow(dead_code)] // each test binary uses the part it needs

use kiln_sched::{Program, SchedError, SchedOptions, schedule};
use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

/// The program for `src` with inputs of `shapes`, and the guards its lowering recorded (as
/// text); a graph that does not parse, bind or specialise panics, a scheduling error returns.
pub fn try_lower(
    src: &str,
    shapes: &[&[i64]],
    policy: Policy,
    opts: &SchedOptions,
) -> Result<(Program, String), SchedError> {
    let g = kiln_ir::parse(src).expect("graph parses");
    let shapes: Vec<Vec<i64>> = shapes.iter().map(|s| s.to_vec()).collect();
    let values = bind_symbols(&g.input_dims(), &shapes).expect("shapes bind");
    let mut env = ShapeEnv::new();
    let inputs =
        specialize_inputs(&mut env, &g.input_dims(), &values, &policy).expect("specialises");
    let p = schedule(&g, &mut env, &inputs, opts)?;
    Ok((p, env.produce_guards().to_string()))
}

/// The program for `src` with inputs of `shapes`, dynamic dims and default options.
pub fn lower(src: &str, shapes: &[&[i64]]) -> Program {
    try_lower(src, shapes, Policy::Dynamic, &SchedOptions::default())
        .expect("schedules")
        .0
}
