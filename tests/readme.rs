//! The README's Rust tour is `examples/readme_tour.rs`, which CI builds: this keeps the two the
//! same text, so the README never shows code that does not compile.
#[test]
fn the_readme_tour_is_the_compiled_example() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```rust\n")
        .expect("the README has a Rust block")
        + "```rust\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    let example = include_str!("../examples/readme_tour.rs");
    let body = example
        .split_once('\n')
        .map(|(_, rest)| rest)
        .expect("a doc line, then the code");
    assert_eq!(
        readme[start..end],
        *body,
        "README.md's Rust tour and examples/readme_tour.rs differ"
    );
}

#[test]
fn the_readme_training_example_is_the_compiled_example() {
    let readme = include_str!("../README.md");
    let marker = "use kiln::{CompileOptions, Compiler, Optimizer, Tensor, TrainSpec};";
    let start = readme
        .find(marker)
        .expect("the README has the training example");
    let end = start + readme[start..].find("```").expect("the block ends");
    let example = include_str!("../examples/readme_train.rs");
    let body = example
        .split_once('\n')
        .map(|(_, rest)| rest)
        .expect("a doc line, then the code");
    assert_eq!(
        readme[start..end],
        *body,
        "README.md's training example and examples/readme_train.rs differ"
    );
}
