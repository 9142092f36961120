//! Prints the CUDA C kiln generates for a `.kiln` file specialised to the given shapes:
//! `cargo run -p kiln-cuda --example emit_cuda -- graph.kiln 2,3,8,8 4`
use kiln_sched::{SchedOptions, schedule};
use kiln_shape::{Policy, ShapeEnv, bind_symbols, specialize_inputs};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: emit_cuda FILE.kiln SHAPE...")?;
    let g = kiln_ir::parse(&std::fs::read_to_string(path)?)?;
    let shapes = args
        .map(|s| s.split(',').map(|d| d.trim().parse::<i64>()).collect())
        .collect::<Result<Vec<Vec<i64>>, _>>()?;
    let decls = g.input_dims();
    let bindings = bind_symbols(&decls, &shapes)?;
    let mut env = ShapeEnv::new();
    let inputs = specialize_inputs(&mut env, &decls, &bindings, &Policy::Dynamic)?;
    let program = schedule(&g, &mut env, &inputs, &SchedOptions::default())?;
    println!("{}", kiln_cuda::generate(&program)?.numbered());
    Ok(())
}
