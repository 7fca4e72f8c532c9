//! No input makes the parser or checker panic or hang: random bytes, and
//! valid programs with random edits (deleted, duplicated and swapped spans,
//! inserted tokens).

use crucible_compiler::random::{self, GenConfig, Rng};
use crucible_compiler::{check, parse, print};
use proptest::prelude::*;

fn front_end(src: &str) {
    if let Ok(p) = parse(src) {
        // The checker sees whatever the parser accepts; errors are fine, panics are not.
        if let Ok(c) = check(&p) {
            // Whatever checks prints and parses back to itself.
            let text = print(c.program());
            let again = parse(&text).expect("printed programs parse");
            assert_eq!(
                again.without_spans(),
                p.without_spans().clone().renumbered()
            );
        }
    }
}

trait Renumbered {
    fn renumbered(self) -> Self;
}

impl Renumbered for crucible_compiler::ir::Program {
    fn renumbered(mut self) -> Self {
        self.renumber();
        self
    }
}

const TOKENS: &[&str] = &[
    "fn",
    "let",
    "if",
    "else",
    "for",
    "in",
    "return",
    "as",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ";",
    ",",
    ":",
    "->",
    "..",
    "::",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<<",
    ">>",
    "==",
    "<",
    "!",
    "&&",
    "x",
    "0x",
    "1e",
    "1.5f32",
    "u64",
    "[u8]",
    "len",
    "select",
    "f32::from_bits",
    "/*",
    "*/",
    "//",
    "\n",
    "\u{fffd}",
    "0xFFFFFFFFFFFFFFFFFFFF",
    "1e999",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        front_end(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn edited_programs_never_panic(seed in any::<u64>(), edits in proptest::collection::vec((any::<u16>(), any::<u16>(), 0u8..4, 0usize..TOKENS.len()), 1..6)) {
        let mut rng = Rng::new(seed);
        let (params, ret) = random::signature(&mut rng);
        let mut text = print(&random::program(&mut rng, &GenConfig::SMALL, &params, ret));
        for (a, b, kind, tok) in edits {
            let n = text.len().max(1);
            let (mut i, mut j) = ((a as usize) % n, (b as usize) % n);
            if i > j {
                std::mem::swap(&mut i, &mut j);
            }
            while !text.is_char_boundary(i) { i -= 1; }
            while !text.is_char_boundary(j) { j -= 1; }
            text = match kind {
                0 => format!("{}{}", &text[..i], &text[j..]),
                1 => format!("{}{}{}", &text[..j], &text[i..j], &text[j..]),
                2 => format!("{}{}{}", &text[..i], TOKENS[tok], &text[i..]),
                _ => format!("{}{}{}{}", &text[..i], &text[j..], &text[i..j], ""),
            };
        }
        front_end(&text);
    }
}

#[test]
fn ten_megabytes_are_rejected_quickly() {
    let src = "fn f(x: u32) -> u32 { return x + 1; }\n".repeat(10_000_000 / 38);
    // Rejected by the size check before lexing (speed is for benches, not tests).
    let err = parse(&src).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(
        err.0[0]
            .message
            .contains("more than the limit of 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn a_megabyte_of_nesting_is_rejected_without_overflow() {
    let src = format!("fn f() -> bool {{ return {}true; }}", "!".repeat(500_000));
    let err = parse(&src).unwrap_err();
    assert!(err.0[0].message.contains("nesting deeper"), "{err}");
    let src = format!(
        "fn f() -> u32 {{ {} return 0; }}",
        "if true { ".repeat(10_000)
    );
    let err = parse(&src).unwrap_err();
    assert!(err.0[0].message.contains("nesting deeper"), "{err}");
}
