//! Bad input never panics: wrong dtypes, ranks and sizes give typed errors naming the input
//! and dim; a damaged cache entry is refused and recompiled, and the result stays correct.
mod cache_support;

use cache_support::{MUL, assert_matches_reference, compiler, data, entry_files, graph, shapes_of};
use kiln::{DType, DynamicPolicy, InputError, KilnError, Outcome, Role};

const FIXED: &str = "graph fixed
input x: f32[N, 4]
input y: f32[N, 4]
z = add(x, y)
output z
";

#[test]
fn wrong_inputs_are_typed_errors_naming_input_and_dim() {
    let dir = tempfile::tempdir().unwrap();
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let f = c.compile(&kiln::parse(FIXED).unwrap()).unwrap();
    let good = data(DType::F32, &[3, 4], 1);

    let wrong_dtype = data(DType::F64, &[3, 4], 2);
    match f.run(&[&good, &wrong_dtype]) {
        Err(KilnError::Input(InputError::Dtype {
            role: Role::Input,
            name,
            expected,
            found,
        })) => {
            assert_eq!(
                (name.as_str(), expected, found),
                ("y", DType::F32, DType::F64)
            );
        }
        other => panic!("expected a dtype error, got {other:?}"),
    }

    let cases: [(Vec<usize>, &[&str]); 3] = [
        (vec![3, 4, 1], &["`y`", "rank 2", "rank 3"]), // wrong rank
        (vec![3, 5], &["`y`", "dim 1", "4", "5"]),     // a fixed size
        (vec![6, 4], &["`N`", "`x` dim 0", "`y` dim 0"]), // a symbol seen with two values
    ];
    for (shape, words) in cases {
        let bad = data(DType::F32, &shape, 3);
        let err = f
            .run(&[&good, &bad])
            .expect_err("bad shapes must be refused");
        assert!(matches!(err, KilnError::Input(_)), "{err:?}");
        let text = err.to_string();
        for word in words {
            assert!(text.contains(word), "`{text}` should name {word}");
        }
        // The same through prepare (no tensors).
        let err = f.prepare(&[vec![3, 4], shape.iter().map(|&d| d as i64).collect()]);
        assert!(err.is_err(), "{shape:?}");
    }
    assert!(matches!(
        f.run(&[&good]),
        Err(KilnError::Input(InputError::Count {
            role: Role::Input,
            expected: 2,
            found: 1
        }))
    ));
    let negative = vec![vec![-3, 4], vec![-3, 4]];
    assert!(
        f.prepare(&negative).is_err(),
        "a negative size must be refused"
    );
    let counters = c.counters();
    assert_eq!(
        counters.miss + counters.hit + counters.guard_miss,
        0,
        "nothing compiled"
    );
}

/// Stores one entry, damages it with `damage`, and checks the next compile refuses it,
/// recompiles correctly and stores a good entry again.
fn recompiles_after(damage: impl Fn(&[u8]) -> Vec<u8>, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let g = graph(MUL, DType::F32);
    let c = compiler(dir.path(), DynamicPolicy::Dynamic);
    let f = c.compile(&g).unwrap();
    let (x, y) = (data(DType::F32, &[6, 7], 1), data(DType::F32, &[6, 7], 2));
    let expected = f.run(&[&x, &y]).unwrap();
    let files = entry_files(dir.path());
    assert_eq!(files.len(), 1, "{what}");
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], damage(&bytes)).unwrap();

    f.reset();
    let out = f.run(&[&x, &y]).unwrap();
    assert_eq!(
        f.last_report().unwrap().outcome,
        Outcome::Miss,
        "{what}: refused, recompiled"
    );
    assert_eq!(out, expected, "{what}");
    assert_matches_reference(&g, &[&x, &y], &out);
    assert_eq!(
        c.cache().unwrap().counters().corrupt,
        1,
        "{what}: counted as corrupt"
    );

    f.reset();
    assert_eq!(
        f.prepare(&shapes_of(&[&x, &y])).unwrap().outcome,
        Outcome::Hit,
        "{what}"
    );
}

#[test]
fn a_damaged_entry_is_refused_and_recompiled() {
    recompiles_after(|_| b"not a kiln entry at all".to_vec(), "garbage");
    recompiles_after(|b| b[..b.len() / 2].to_vec(), "truncated");
    recompiles_after(
        |b| {
            let mut b = b.to_vec();
            let last = b.len() - 1;
            b[last] ^= 0x40;
            b
        },
        "one flipped bit in the artifact",
    );
    recompiles_after(|_| Vec::new(), "empty");
}
