//! Every parse error, with its line, column and message.
use kiln_ir::IrError;
use kiln_ir::parse::parse_unchecked;

/// The error of parsing `src`, as `(line, col, msg)`.
fn err(src: &str) -> (usize, usize, String) {
    match parse_unchecked(src) {
        Err(IrError::Parse { line, col, msg }) => (line, col, msg),
        other => panic!("expected a parse error for {src:?}, got {other:?}"),
    }
}

/// The error of a body placed after `graph g` and `input x: f32[N, C]` (so its first line is 3).
fn body_err(body: &str) -> (usize, usize, String) {
    err(&format!("graph g\ninput x: f32[N, C]\n{body}\noutput x"))
}

fn at(line: usize, col: usize, msg: &str) -> (usize, usize, String) {
    (line, col, msg.to_string())
}

#[test]
fn structure_errors() {
    assert_eq!(
        err(""),
        at(
            1,
            1,
            "expected 'graph NAME' as the first statement, found the end of the source"
        )
    );
    assert_eq!(
        err("\n  input x: f32[1]"),
        at(
            2,
            3,
            "expected 'graph NAME' as the first statement, found 'input'"
        )
    );
    assert_eq!(
        err("graph"),
        at(
            1,
            6,
            "expected the graph's name after 'graph', found the end of the line"
        )
    );
    assert_eq!(
        err("graph a b"),
        at(
            1,
            9,
            "expected the end of the line after the graph's name, found 'b'"
        )
    );
    assert_eq!(
        err("graph a\ngraph b"),
        at(2, 1, "the 'graph' statement may appear only once, first")
    );
    assert_eq!(
        err("graph a\ninput x: f32[1]\n"),
        at(
            2,
            16,
            "expected an 'output' statement at the end of the source"
        )
    );
    assert_eq!(
        err("graph a\ninput x: f32[1]\noutput x\ny = relu(x)"),
        at(4, 1, "nothing may follow the 'output' statement")
    );
    assert_eq!(
        err("graph a\ninput x: f32[1]\noutput x\noutput x"),
        at(4, 1, "nothing may follow the 'output' statement")
    );
    assert_eq!(
        body_err("relu(x)"),
        at(
            3,
            1,
            "expected a statement ('input', 'param', 'output' or 'NAME = op(...)'), found 'relu'"
        )
    );
    assert_eq!(
        body_err("3 = relu(x)"),
        at(3, 1, "expected a value name, found '3'")
    );
    // Several names are for ops with several results.
    assert_eq!(
        body_err("a, b = relu(x)"),
        at(3, 1, "'relu' has one result, but 2 names are assigned")
    );
    assert_eq!(
        body_err("a, 3 = relu(x)"),
        at(3, 4, "expected a value name, found '3'")
    );
}

#[test]
fn input_errors() {
    assert_eq!(
        body_err("input y f32[1]"),
        at(3, 9, "expected ':' after the input's name, found 'f32'")
    );
    assert_eq!(
        body_err("input y: f31[1]"),
        at(
            3,
            10,
            "unknown dtype 'f31' (expected f32, f64, f16, bf16 or bool)"
        )
    );
    assert_eq!(
        body_err("input y: f32"),
        at(
            3,
            13,
            "expected '[' before the input's dimensions, found the end of the line"
        )
    );
    assert_eq!(
        body_err("input y: f32[-1]"),
        at(
            3,
            14,
            "expected a dimension (an integer or a symbol name), found '-'"
        )
    );
    assert_eq!(
        body_err("input y: f32[N M]"),
        at(3, 16, "expected ',' or ']' after a dimension, found 'M'")
    );
    assert_eq!(
        body_err("input x: f32[1]"),
        at(3, 7, "the name 'x' is defined twice")
    );
    assert_eq!(
        body_err("input inf: f32[1]"),
        at(3, 7, "'inf' is a reserved word and cannot name a value")
    );
    assert_eq!(
        body_err("input y: f32[1] z"),
        at(
            3,
            17,
            "expected the end of the line after the input's dimensions, found 'z'"
        )
    );
}

#[test]
fn output_errors() {
    assert_eq!(
        err("graph g\ninput x: f32[1]\noutput y"),
        at(3, 8, "output: unknown value 'y'")
    );
    assert_eq!(
        err("graph g\ninput x: f32[1]\noutput"),
        at(
            3,
            7,
            "expected a value name in 'output', found the end of the line"
        )
    );
    assert_eq!(
        err("graph g\ninput x: f32[1]\noutput x y"),
        at(
            3,
            10,
            "expected the end of the line after the output names, found 'y'"
        )
    );
}

#[test]
fn node_syntax_errors() {
    assert_eq!(
        body_err("t = foo(x)"),
        at(3, 5, "node 't': unknown op 'foo'")
    );
    assert_eq!(
        body_err("t = relu x"),
        at(3, 10, "expected '(' after 'relu', found 'x'")
    );
    assert_eq!(
        body_err("t = relu(x"),
        at(
            3,
            11,
            "expected ')' after arguments, found the end of the line"
        )
    );
    assert_eq!(
        body_err("t = relu(x x)"),
        at(3, 12, "expected ')' after arguments, found 'x'")
    );
    assert_eq!(
        body_err("t = relu(x) y"),
        at(
            3,
            13,
            "expected the end of the line after the call, found 'y'"
        )
    );
    assert_eq!(
        body_err("t = "),
        at(
            3,
            5,
            "expected an op name after '=', found the end of the line"
        )
    );
    assert_eq!(
        body_err("t = relu(,)"),
        at(3, 10, "expected an argument, found ','")
    );
    assert_eq!(
        body_err("t = mul(x, -y)"),
        at(3, 13, "expected a number after '-', found 'y'")
    );
    assert_eq!(
        body_err("t = sum(x, [1 2])"),
        at(3, 15, "expected ',' or ']' in a list, found '2'")
    );
    assert_eq!(
        body_err("t = relu(x) @"),
        at(3, 13, "unexpected character '@'")
    );
    assert_eq!(
        body_err("x = relu(x)"),
        at(3, 1, "the name 'x' is defined twice")
    );
    assert_eq!(
        body_err("nan = relu(x)"),
        at(3, 1, "'nan' is a reserved word and cannot name a value")
    );
}

#[test]
fn binding_errors() {
    assert_eq!(
        body_err("t = relu(y)"),
        at(3, 10, "node 't': unknown value 'y'")
    );
    assert_eq!(
        body_err("t = relu(t)"),
        at(3, 10, "node 't': unknown value 't'")
    );
    assert_eq!(
        body_err("t = relu(x, x)"),
        at(
            3,
            13,
            "node 't': relu takes at most 1 argument (input), found more"
        )
    );
    assert_eq!(
        body_err("t = relu(x, foo=1)"),
        at(
            3,
            13,
            "node 't': relu has no argument 'foo' (it takes input)"
        )
    );
    assert_eq!(
        body_err("t = softmax(x, 1, dim=1)"),
        at(3, 19, "node 't': argument 'dim' of softmax is given twice")
    );
    assert_eq!(
        body_err("t = softmax(input=x, 1)"),
        at(
            3,
            22,
            "node 't': positional argument follows keyword argument"
        )
    );
    assert_eq!(
        body_err("t = max_pool2d(x, stride=2)"),
        at(
            3,
            5,
            "node 't': max_pool2d is missing required argument 'kernel_size'"
        )
    );
    assert_eq!(
        body_err("t = avg_pool2d(x, 2, dilation=2)"),
        at(
            3,
            22,
            "node 't': avg_pool2d has no argument 'dilation' (it takes input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)"
        )
    );
    assert_eq!(
        body_err("t = add(1, 2.0)"),
        at(
            3,
            5,
            "node 't' (add): at least one operand must be a value, not a number"
        )
    );
    assert_eq!(
        body_err("t = where(true_, 1, 2)"),
        at(3, 11, "node 't': unknown value 'true_'")
    );
    assert_eq!(
        body_err("t = where(1.0, 1, 2)"),
        at(
            3,
            5,
            "node 't' (where): at least one operand must be a value, not a number"
        )
    );
}

#[test]
fn argument_kind_errors() {
    let cases = [
        (
            "t = relu(1.0)",
            10,
            "argument 'input' expects a value name, found the number 1.0",
        ),
        (
            "t = relu(None)",
            10,
            "argument 'input' expects a value name, found the name 'None'",
        ),
        (
            "t = add(x, \"a\")",
            12,
            "argument 'other' expects a value name or a number, found the string \"a\"",
        ),
        (
            "t = softmax(x, 1.0)",
            16,
            "argument 'dim' expects an integer, found the number 1.0",
        ),
        (
            "t = softmax(x, None)",
            16,
            "argument 'dim' expects an integer, found the name 'None'",
        ),
        (
            "t = sum(x, keepdim=1)",
            20,
            "argument 'keepdim' expects true or false, found the integer 1",
        ),
        (
            "t = sum(x, dim=\"a\")",
            16,
            "argument 'dim' expects an integer, a list of integers or None, found the string \"a\"",
        ),
        (
            "t = sum(x, dim=[1, 2.5])",
            20,
            "argument 'dim' expects an integer, a list of integers or None, found the number 2.5",
        ),
        (
            "t = to(x, f8)",
            11,
            "argument 'dtype' expects a dtype (f32, f64, f16, bf16 or bool), found the name 'f8'",
        ),
        (
            "t = max_pool2d(x, [1, 2, 3])",
            19,
            "argument 'kernel_size' expects an integer or a list of 2 integers, found a list of 3 entries",
        ),
        (
            "t = max_pool2d(x, 2, stride=[1, N])",
            33,
            "argument 'stride' expects an integer or a list of 2 integers, found the name 'N'",
        ),
        (
            "t = adaptive_avg_pool2d(x, None)",
            28,
            "argument 'output_size' expects an integer or a list of 2 integers, found the name 'None'",
        ),
        (
            "t = reshape(x, [N, 1.5])",
            20,
            "argument 'shape' expects a list of integers and symbol names, found the number 1.5",
        ),
        (
            "t = reshape(x, [N, true])",
            20,
            "argument 'shape' expects a list of integers and symbol names, found the name 'true'",
        ),
        (
            "t = expand(x, 3)",
            15,
            "argument 'size' expects a list of integers and symbol names, found the integer 3",
        ),
        (
            "t = permute(x, [0, C])",
            20,
            "argument 'dims' expects a list of integers, found the name 'C'",
        ),
        (
            "t = squeeze(x, \"0\")",
            16,
            "argument 'dim' expects an integer, a list of integers or None, found the string \"0\"",
        ),
        (
            "t = gelu(x, approximate=1)",
            25,
            "argument 'approximate' expects a string, found the integer 1",
        ),
        (
            "t = gelu(x, approximate=\"fast\")",
            25,
            "argument 'approximate' must be \"none\" or \"tanh\", found \"fast\"",
        ),
        (
            "t = tensor([[1.0], 2.0])",
            20,
            "the data is not rectangular: expected a list of 1 entries, found the number 2.0",
        ),
        (
            "t = tensor([[1.0], [2.0, 3.0]])",
            20,
            "the data is not rectangular: expected a list of 1 entries, found 2",
        ),
        (
            "t = tensor([1.0, [2.0]])",
            18,
            "the data is not rectangular: expected a number, found a list",
        ),
        (
            "t = tensor([\"a\"])",
            13,
            "tensor data must be numbers, true or false, found the string \"a\"",
        ),
        (
            "t = tensor([1.0, 2.0], shape=[3])",
            30,
            "argument 'shape' must be non-negative sizes whose product is the number of data values (2)",
        ),
        (
            "t = tensor([], shape=[-1, 0])",
            22,
            "argument 'shape' must be non-negative sizes whose product is the number of data values (0)",
        ),
        (
            "t = tensor(1.0, dtype=int)",
            23,
            "argument 'dtype' expects a dtype (f32, f64, f16, bf16 or bool), found the name 'int'",
        ),
    ];
    for (body, col, msg) in cases {
        let op = body[4..].split('(').next().unwrap_or_default();
        let expected = format!("node 't' ({op}): {msg}");
        assert_eq!(body_err(body), (3, col, expected), "{body}");
    }
}

#[test]
fn lexer_errors_carry_their_line() {
    assert_eq!(
        body_err("t = mul(x, 1e)"),
        at(3, 14, "expected digits in the exponent of a number")
    );
    assert_eq!(
        body_err("t = gelu(x, \"tanh)"),
        at(3, 13, "unterminated string")
    );
    assert_eq!(
        body_err("t = mul(x, 99999999999999999999)"),
        at(
            3,
            12,
            "integer literal '99999999999999999999' is out of range"
        )
    );
}

#[test]
fn parse_error_display_has_line_and_column() {
    let e = parse_unchecked("graph g\ninput x: f32[1]\nt = foo(x)\noutput t").unwrap_err();
    assert_eq!(e.to_string(), "3:5: node 't': unknown op 'foo'");
}
