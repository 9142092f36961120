//! The README's training example (tests/readme.rs checks the two are the same text).
use kiln::{CompileOptions, Compiler, Optimizer, Tensor, TrainSpec};

fn main() -> Result<(), kiln::KilnError> {
    let g = kiln::parse(
        "graph fit\ninput x: f32[N, 2]\ninput t: f32[N, 1]\nparam w: f32[1, 2]\n\
         o = linear(x, w)\nd = sub(o, t)\ns = mul(d, d)\nl = mean(s)\noutput l",
    )?;
    let spec = TrainSpec {
        loss: "l".into(),
        params: vec!["w".into()],
        optimizer: Optimizer::Sgd {
            lr: 0.02,
            momentum: 0.5,
            weight_decay: 0.0,
        },
    };
    let compiler = Compiler::new(CompileOptions::default());
    let w = Tensor::from_f32(&[1, 2], &[0.0, 0.0]);
    let mut trainer = compiler.trainer(&g, &spec, [("w", w)])?;
    let x = Tensor::from_f32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let t = Tensor::from_f32(&[2, 1], &[1.0, 2.0]);
    for step in 0..20 {
        // Forward, backward and update: one compiled program, cached like any graph.
        let loss = trainer.step(&[&x, &t])?;
        if step % 5 == 0 {
            println!("step {step}: loss {loss:.4}");
        }
    }
    println!("w = {:?}", trainer.param("w").map(|w| w.to_f64()));
    Ok(())
}
