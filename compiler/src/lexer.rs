//! Turns candidate text into tokens.

use crate::diag::Diagnostic;
use crate::ir::{Scalar, Span};

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// An integer literal: magnitude and optional suffix.
    Int(u128, Option<Scalar>),
    /// A float literal as parsed for f64 and f32, with optional suffix.
    Float(f64, f32, Option<Scalar>),
    Kw(&'static str),
    Punct(&'static str),
    Eof,
}

/// A token and where it was.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

const KEYWORDS: [&str; 11] = [
    "fn", "let", "if", "else", "for", "in", "return", "as", "true", "false", "mut",
];

// Longest first, so that `<<` wins over `<`.
const PUNCTS: [&str; 32] = [
    "->", "::", "..", "<<", ">>", "==", "!=", "<=", ">=", "&&", "||", "(", ")", "{", "}", "[", "]",
    ",", ";", ":", "=", "+", "-", "*", "/", "%", "&", "|", "^", "<", ">", "!",
];

/// Lexes the whole text; stops at the first error.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Diagnostic> {
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if src[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if src[i..].starts_with("/*") {
            let start = i;
            let mut depth = 0usize;
            loop {
                if i >= bytes.len() {
                    return Err(Diagnostic::new(
                        Span::new(start, start + 2),
                        "unterminated block comment",
                    ));
                }
                if src[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &src[start..i];
            let tok = match KEYWORDS.iter().find(|k| **k == word) {
                Some(k) => Tok::Kw(k),
                None => Tok::Ident(word.to_string()),
            };
            toks.push(Token {
                tok,
                span: Span::new(start, i),
            });
            continue;
        }
        if c.is_ascii_digit() {
            let (tok, end) = lex_number(src, start)?;
            i = end;
            toks.push(Token {
                tok,
                span: Span::new(start, i),
            });
            continue;
        }
        if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            i += p.len();
            toks.push(Token {
                tok: Tok::Punct(p),
                span: Span::new(start, i),
            });
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('?');
        return Err(Diagnostic::new(
            Span::new(start, start + ch.len_utf8()),
            format!("unexpected character `{}`", ch.escape_debug()),
        ));
    }
    toks.push(Token {
        tok: Tok::Eof,
        span: Span::new(bytes.len(), bytes.len()),
    });
    Ok(toks)
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), Diagnostic> {
    let bytes = src.as_bytes();
    let mut i = start;
    let is_hex = src[i..].starts_with("0x") || src[i..].starts_with("0X");
    let is_bin = src[i..].starts_with("0b");
    let is_oct = src[i..].starts_with("0o");
    let err = |end: usize, msg: &str| Diagnostic::new(Span::new(start, end), msg.to_string());
    if is_hex || is_bin || is_oct {
        i += 2;
        let radix = if is_hex {
            16
        } else if is_bin {
            2
        } else {
            8
        };
        let digits_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_hexdigit() || bytes[i] == b'_') {
            i += 1;
        }
        let int_digits: String = src[digits_start..i].chars().filter(|&c| c != '_').collect();
        // A hex float: 0x1.8p3, 0x1p-2.
        if is_hex && i < bytes.len() && (bytes[i] == b'.' || bytes[i] == b'p' || bytes[i] == b'P') {
            return lex_hex_float(src, start, digits_start);
        }
        if int_digits.is_empty() {
            return Err(err(i, "missing digits after the radix prefix"));
        }
        // Binary and octal literals must not carry hex digits.
        let value = u128::from_str_radix(&int_digits, radix)
            .map_err(|_| err(i, "invalid or too large integer literal"))?;
        let (suffix, end) = lex_suffix(src, i, true)?;
        return Ok((Tok::Int(value, suffix), end));
    }
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
        i += 1;
    }
    let mut is_float = false;
    // A fraction needs a digit after the dot, so that `0..n` stays a range.
    if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
        is_float = true;
        i += 1;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
            i += 1;
        }
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            is_float = true;
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = src[start..i].chars().filter(|&c| c != '_').collect();
    let (suffix, end) = lex_suffix(src, i, !is_float)?;
    if is_float || suffix.is_some_and(|s| s.is_float()) {
        let f64v: f64 = text
            .parse()
            .map_err(|_| err(end, "invalid float literal"))?;
        let f32v: f32 = text
            .parse()
            .map_err(|_| err(end, "invalid float literal"))?;
        if f64v.is_infinite() || (suffix == Some(Scalar::F32) && f32v.is_infinite()) {
            return Err(err(
                end,
                "float literal out of range (write f64::INFINITY for infinity)",
            ));
        }
        return Ok((Tok::Float(f64v, f32v, suffix), end));
    }
    let value: u128 = text
        .parse()
        .map_err(|_| err(end, "integer literal too large"))?;
    Ok((Tok::Int(value, suffix), end))
}

/// A type suffix directly after a literal (`42u64`, `1.5f32`).
fn lex_suffix(src: &str, i: usize, allow_int: bool) -> Result<(Option<Scalar>, usize), Diagnostic> {
    let bytes = src.as_bytes();
    let mut j = i;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    if j == i {
        return Ok((None, i));
    }
    let word = &src[i..j];
    match Scalar::from_name(word) {
        Some(s) if s != Scalar::Bool && (allow_int || s.is_float()) => Ok((Some(s), j)),
        _ => Err(
            Diagnostic::new(Span::new(i, j), format!("invalid literal suffix `{word}`"))
                .with_note("suffixes are i32, i64, u32, u64, f32, f64"),
        ),
    }
}

/// Parses `0x<hex>[.<hex>]p[+-]<dec>` exactly; the value must be representable
/// exactly in the literal's type (that is what hex floats are for).
fn lex_hex_float(src: &str, start: usize, digits_start: usize) -> Result<(Tok, usize), Diagnostic> {
    let bytes = src.as_bytes();
    let mut i = digits_start;
    let mut mantissa: u128 = 0;
    let mut frac_digits: i32 = 0;
    let mut seen_dot = false;
    let mut n_digits = 0;
    let err = |end: usize, msg: &str| Diagnostic::new(Span::new(start, end), msg.to_string());
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'_' {
            i += 1;
            continue;
        }
        if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        if mantissa >> 120 != 0 {
            return Err(err(i, "hex float literal has too many digits"));
        }
        mantissa = mantissa * 16 + d as u128;
        n_digits += 1;
        if seen_dot {
            frac_digits += 1;
        }
        i += 1;
    }
    if n_digits == 0 {
        return Err(err(i, "hex float literal needs digits"));
    }
    if i >= bytes.len() || (bytes[i] != b'p' && bytes[i] != b'P') {
        return Err(err(i, "hex float literal needs a binary exponent (`p`)"));
    }
    i += 1;
    let exp_start = i;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        i += 1;
    }
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let exp: i32 = src[exp_start..i]
        .parse()
        .map_err(|_| err(i, "invalid hex float exponent"))?;
    let (suffix, end) = lex_suffix(src, i, false)?;
    let exp2 = exp
        .checked_sub(frac_digits * 4)
        .ok_or_else(|| err(end, "hex float exponent out of range"))?;
    let f64v = exact_float(mantissa, exp2, 53, -1074, 1023);
    let f32v = exact_float(mantissa, exp2, 24, -149, 127);
    match (suffix, f64v, f32v) {
        (Some(Scalar::F32), _, Some(v)) => Ok((Tok::Float(v, v as f32, suffix), end)),
        (Some(Scalar::F32), _, None) => Err(err(end, "hex float literal is not exactly an f32")),
        (_, Some(v), v32) => Ok((Tok::Float(v, v32.unwrap_or(v) as f32, suffix), end)),
        (_, None, _) => Err(err(end, "hex float literal is not exactly an f64")),
    }
}

/// `mantissa * 2^exp2` if it is exactly representable with `prec` significant
/// bits, exponents down to `min_exp` (of the last bit) and up to `max_exp`.
fn exact_float(mantissa: u128, exp2: i32, prec: u32, min_exp: i32, max_exp: i32) -> Option<f64> {
    if mantissa == 0 {
        return Some(0.0);
    }
    let tz = mantissa.trailing_zeros();
    let m = mantissa >> tz;
    let e = exp2 + tz as i32;
    let bits = 128 - m.leading_zeros();
    if bits > prec || e < min_exp || e + bits as i32 - 1 > max_exp {
        return None;
    }
    // m < 2^53 and the exponent is in range, so this is exact.
    let mut v = m as f64;
    let mut e = e;
    while e > 0 {
        let step = e.min(1000);
        v *= 2f64.powi(step);
        e -= step;
    }
    while e < 0 {
        let step = (-e).min(1000);
        v *= 2f64.powi(-step);
        e += step;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn ranges_are_not_floats() {
        assert_eq!(
            toks("0..n"),
            vec![
                Tok::Int(0, None),
                Tok::Punct(".."),
                Tok::Ident("n".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn hex_floats_are_exact() {
        assert_eq!(toks("0x1.8p1")[0], Tok::Float(3.0, 3.0, None));
        assert_eq!(
            toks("0x1p-149f32")[0],
            Tok::Float(
                f32::from_bits(1) as f64,
                f32::from_bits(1),
                Some(Scalar::F32)
            )
        );
        assert!(lex("0x1.000001p0f32").is_err());
    }

    #[test]
    fn suffixes_and_hex_ints() {
        assert_eq!(
            toks("0x9E37_79B9u64")[0],
            Tok::Int(0x9E37_79B9, Some(Scalar::U64))
        );
        assert_eq!(toks("2f32")[0], Tok::Float(2.0, 2.0, Some(Scalar::F32)));
        assert!(lex("3q").is_err());
        assert!(lex("1e999").is_err());
    }
}
