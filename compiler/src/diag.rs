//! Diagnostics: what went wrong, where, rendered as `file:line:col` with the
//! offending line and a caret.

use std::fmt;

use crate::ir::Span;

/// One problem found in candidate text or a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is (may be [`Span::NONE`] for programs not parsed from text).
    pub span: Span,
    /// What is wrong, in one sentence without a final period.
    pub message: String,
    /// An optional hint, e.g. "expected `u32`, found `f64`".
    pub note: Option<String>,
}

impl Diagnostic {
    /// Makes a diagnostic without a note.
    pub fn new(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
            note: None,
        }
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.note = Some(note.into());
        self
    }

    /// The 1-based line and column of the start of the span in `source`.
    pub fn line_col(&self, source: &str) -> Option<(usize, usize)> {
        if !self.span.is_known() {
            return None;
        }
        let start = (self.span.start as usize).min(source.len());
        let before = &source.as_bytes()[..start];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let col = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Some((line, col))
    }

    /// Renders the diagnostic against its source text:
    ///
    /// ```text
    /// error: mismatched types
    ///  --> key.cru:1:30
    ///   |
    /// 1 | fn f(x: u32) -> u32 { return x + 1.5; }
    ///   |                              ^^^^^^^ expected `u32`, found `f64`
    /// ```
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = format!("error: {}\n", self.message);
        let Some((line, col)) = self.line_col(source) else {
            out.push_str(&format!(" --> {file}\n"));
            if let Some(note) = &self.note {
                out.push_str(&format!("  = note: {note}\n"));
            }
            return out;
        };
        let text = source.lines().nth(line - 1).unwrap_or("");
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        out.push_str(&format!("{pad}--> {file}:{line}:{col}\n"));
        out.push_str(&format!("{pad} |\n"));
        out.push_str(&format!("{line} | {text}\n"));
        let width = (self.span.end.saturating_sub(self.span.start) as usize)
            .clamp(1, text.chars().count().saturating_sub(col - 1).max(1));
        let note = self.note.as_deref().unwrap_or("");
        out.push_str(&format!(
            "{pad} | {}{} {note}\n",
            " ".repeat(col - 1),
            "^".repeat(width)
        ));
        out.trim_end().to_string() + "\n"
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

/// Every diagnostic found in one piece of text or one program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.0))]
pub struct Diagnostics(pub Vec<Diagnostic>);

fn summary(diags: &[Diagnostic]) -> String {
    match diags {
        [] => "no diagnostics".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

impl Diagnostics {
    /// Renders all diagnostics against the source text, one after another.
    pub fn render(&self, file: &str, source: &str) -> String {
        self.0
            .iter()
            .map(|d| d.render(file, source))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_col_and_caret() {
        let src = "fn f() -> u32 {\n  return 1.5;\n}\n";
        let d = Diagnostic::new(Span::new(25, 28), "mismatched types")
            .with_note("expected `u32`, found `f64`");
        let text = d.render("a.cru", src);
        assert!(text.contains("--> a.cru:2:10"), "{text}");
        assert!(text.contains("2 |   return 1.5;"), "{text}");
        assert!(text.contains("         ^^^ expected `u32`"), "{text}");
    }
}
