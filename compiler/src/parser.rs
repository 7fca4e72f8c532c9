//! Recursive-descent parser from tokens to [`ir::Program`](crate::ir::Program).
//!
//! The parser recovers at function boundaries: an error inside one function is
//! reported and parsing continues with the next `fn`, so one run reports the
//! problems of every function.

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{
    BinOp, Block, Builtin, Callee, Elem, Expr, ExprKind, Function, Lit, NodeId, Param, Program,
    Scalar, Span, Stmt, StmtKind, Type, UnOp,
};
use crate::lexer::{Tok, Token, lex};
use crate::limits;

/// Parses candidate text into a program (not yet type-checked).
///
/// # Errors
/// Every syntax error found (at most one per function), each with its span.
pub fn parse(src: &str) -> Result<Program, Diagnostics> {
    if src.len() > limits::MAX_SOURCE_BYTES {
        return Err(Diagnostics(vec![Diagnostic::new(
            Span::new(0, 0),
            format!(
                "program text is {} bytes, more than the limit of {} bytes",
                src.len(),
                limits::MAX_SOURCE_BYTES
            ),
        )]));
    }
    let toks = lex(src).map_err(|d| Diagnostics(vec![d]))?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        nodes: 0,
    };
    let mut funcs = Vec::new();
    let mut diags = Vec::new();
    while !p.at_eof() {
        match p.function() {
            Ok(f) => funcs.push(f),
            Err(d) => {
                let fatal = d.message.contains("limit");
                diags.push(d);
                if fatal || diags.len() >= limits::MAX_DIAGNOSTICS {
                    break;
                }
                p.recover();
            }
        }
    }
    if funcs.is_empty() && diags.is_empty() {
        diags.push(Diagnostic::new(
            Span::new(0, 0),
            "the program has no functions",
        ));
    }
    if funcs.len() > limits::MAX_FUNCS {
        diags.push(Diagnostic::new(
            funcs[limits::MAX_FUNCS].span,
            format!(
                "the program has {} functions, more than the limit of {}",
                funcs.len(),
                limits::MAX_FUNCS
            ),
        ));
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    let mut program = Program { funcs };
    program.renumber();
    Ok(program)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    nodes: usize,
}

type PResult<T> = Result<T, Diagnostic>;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn span(&self) -> Span {
        self.toks[self.pos].span
    }

    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    fn at_eof(&self) -> bool {
        matches!(self.peek(), Tok::Eof)
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Kw(q) if *q == k)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        if self.is_kw(k) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn describe(tok: &Tok) -> String {
        match tok {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Int(..) => "integer literal".to_string(),
            Tok::Float(..) => "float literal".to_string(),
            Tok::Kw(k) => format!("keyword `{k}`"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of input".to_string(),
        }
    }

    fn expected(&self, what: &str) -> Diagnostic {
        Diagnostic::new(
            self.span(),
            format!("expected {what}, found {}", Self::describe(self.peek())),
        )
    }

    fn expect_punct(&mut self, p: &str) -> PResult<Span> {
        if self.is_punct(p) {
            Ok(self.bump().span)
        } else {
            Err(self.expected(&format!("`{p}`")))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<(String, Span)> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                let span = self.bump().span;
                Ok((s, span))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Skips to the next `fn` keyword at the top level.
    fn recover(&mut self) {
        let mut depth = 0i32;
        while !self.at_eof() {
            if depth <= 0 && self.is_kw("fn") {
                return;
            }
            match self.bump().tok {
                Tok::Punct("{") => depth += 1,
                Tok::Punct("}") => depth -= 1,
                _ => {}
            }
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > limits::MAX_DEPTH {
            return Err(Diagnostic::new(
                self.span(),
                format!(
                    "nesting deeper than the limit of {} levels",
                    limits::MAX_DEPTH
                ),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn count_node(&mut self) -> PResult<()> {
        self.nodes += 1;
        if self.nodes > limits::MAX_NODES {
            return Err(Diagnostic::new(
                self.span(),
                format!(
                    "program has more than the limit of {} nodes",
                    limits::MAX_NODES
                ),
            ));
        }
        Ok(())
    }

    fn function(&mut self) -> PResult<Function> {
        if !self.eat_kw("fn") {
            return Err(self.expected("`fn`"));
        }
        self.count_node()?;
        let (name, span) = self.ident("a function name")?;
        self.expect_punct("(")?;
        let mut params = Vec::new();
        while !self.is_punct(")") {
            let (pname, pspan) = self.ident("a parameter name")?;
            self.expect_punct(":")?;
            let ty = self.ty()?;
            params.push(Param {
                name: pname,
                ty,
                span: pspan,
            });
            if params.len() > limits::MAX_PARAMS {
                return Err(Diagnostic::new(
                    pspan,
                    format!("more than the limit of {} parameters", limits::MAX_PARAMS),
                ));
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")")?;
        if !self.is_punct("->") {
            return Err(self
                .expected("`->` and a return type")
                .with_note("every function returns a scalar value"));
        }
        self.bump();
        let ret_span = self.span();
        let ret = match self.ty()? {
            Type::Scalar(s) => s,
            Type::Slice(_) => {
                return Err(Diagnostic::new(
                    ret_span.to(self.prev_span()),
                    "a function cannot return a slice",
                ));
            }
        };
        let body = self.block()?;
        Ok(Function {
            id: NodeId(0),
            span,
            name,
            params,
            ret,
            body,
        })
    }

    fn ty(&mut self) -> PResult<Type> {
        if self.eat_punct("[") {
            let (name, span) = self.ident("an element type")?;
            let elem = Elem::from_name(&name).ok_or_else(|| {
                Diagnostic::new(span, format!("unknown element type `{name}`"))
                    .with_note("slices hold u8, u32, u64, i32, i64, f32 or f64")
            })?;
            self.expect_punct("]")?;
            return Ok(Type::Slice(elem));
        }
        let (name, span) = self.ident("a type")?;
        Scalar::from_name(&name).map(Type::Scalar).ok_or_else(|| {
            Diagnostic::new(span, format!("unknown type `{name}`"))
                .with_note("types are i32, i64, u32, u64, f32, f64, bool and slices like [u8]")
        })
    }

    fn block(&mut self) -> PResult<Block> {
        self.enter()?;
        self.count_node()?;
        let open = self.expect_punct("{")?;
        let mut stmts = Vec::new();
        while !self.is_punct("}") {
            if self.at_eof() {
                return Err(self.expected("`}`"));
            }
            stmts.push(self.stmt()?);
        }
        let close = self.bump().span;
        self.leave();
        Ok(Block {
            id: NodeId(0),
            span: open.to(close),
            stmts,
        })
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        self.count_node()?;
        let start = self.span();
        let kind = if self.eat_kw("let") {
            if self.eat_kw("mut") {
                // `let mut` is accepted: every local is assignable.
            }
            let (name, _) = self.ident("a variable name")?;
            let ty = if self.eat_punct(":") {
                let tspan = self.span();
                match self.ty()? {
                    Type::Scalar(s) => Some(s),
                    Type::Slice(_) => {
                        return Err(Diagnostic::new(
                            tspan.to(self.prev_span()),
                            "a local cannot hold a slice",
                        ));
                    }
                }
            } else {
                None
            };
            self.expect_punct("=")?;
            let init = self.expr()?;
            self.expect_punct(";")?;
            StmtKind::Let { name, ty, init }
        } else if self.is_kw("if") {
            return self.if_stmt();
        } else if self.eat_kw("for") {
            let (var, _) = self.ident("a loop variable")?;
            if !self.eat_kw("in") {
                return Err(self.expected("`in`"));
            }
            let start_expr = self.expr()?;
            self.expect_punct("..")?;
            let end = self.expr()?;
            let body = self.block()?;
            StmtKind::For {
                var,
                start: start_expr,
                end,
                body,
            }
        } else if self.eat_kw("return") {
            let value = self.expr()?;
            self.expect_punct(";")?;
            StmtKind::Return(value)
        } else if matches!(self.peek(), Tok::Ident(_)) && matches!(self.peek_at(1), Tok::Punct("="))
        {
            let (name, _) = self.ident("a variable name")?;
            self.bump();
            let value = self.expr()?;
            self.expect_punct(";")?;
            StmtKind::Assign { name, value }
        } else {
            let e = self.expr()?;
            if self.is_punct("}") {
                return Err(
                    Diagnostic::new(e.span, "expected a statement, found an expression")
                        .with_note("write `return <expr>;`: a trailing expression is not a return"),
                );
            }
            return Err(
                Diagnostic::new(e.span, "expected a statement, found an expression")
                    .with_note("statements are let, assignment, if, for and return"),
            );
        };
        Ok(Stmt {
            id: NodeId(0),
            span: start.to(self.prev_span()),
            kind,
        })
    }

    fn if_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump().span;
        let cond = self.expr()?;
        let then_block = self.block()?;
        let else_block = if self.eat_kw("else") {
            if self.is_kw("if") {
                self.enter()?;
                self.count_node()?;
                let inner = self.if_stmt()?;
                self.leave();
                Some(Block {
                    id: NodeId(0),
                    span: inner.span,
                    stmts: vec![inner],
                })
            } else {
                Some(self.block()?)
            }
        } else {
            None
        };
        Ok(Stmt {
            id: NodeId(0),
            span: start.to(self.prev_span()),
            kind: StmtKind::If {
                cond,
                then_block,
                else_block,
            },
        })
    }

    fn expr(&mut self) -> PResult<Expr> {
        self.binary(1)
    }

    fn binop(&self) -> Option<BinOp> {
        let Tok::Punct(p) = self.peek() else {
            return None;
        };
        BinOp::ALL.into_iter().find(|op| op.symbol() == *p)
    }

    fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let mut lhs = self.cast()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_span = self.bump().span;
            let rhs = self.binary(prec + 1)?;
            if op.is_comparison()
                && let ExprKind::Binary(inner, first, _) = &lhs.kind
            {
                // A parenthesised comparison starts before its first operand.
                if inner.is_comparison() && lhs.span.start == first.span.start {
                    return Err(
                        Diagnostic::new(op_span, "comparison operators cannot be chained")
                            .with_note("use parentheses or `&&`"),
                    );
                }
            }
            self.count_node()?;
            lhs = Expr {
                id: NodeId(0),
                span: lhs.span.to(rhs.span),
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            };
        }
        self.leave();
        Ok(lhs)
    }

    fn cast(&mut self) -> PResult<Expr> {
        let mut e = self.unary()?;
        while self.eat_kw("as") {
            let tspan = self.span();
            let ty = match self.ty()? {
                Type::Scalar(s) => s,
                Type::Slice(_) => {
                    return Err(Diagnostic::new(
                        tspan.to(self.prev_span()),
                        "cannot cast to a slice",
                    ));
                }
            };
            self.count_node()?;
            e = Expr {
                id: NodeId(0),
                span: e.span.to(self.prev_span()),
                kind: ExprKind::Cast(Box::new(e), ty),
            };
        }
        Ok(e)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let start = self.span();
        let op = if self.is_punct("-") {
            UnOp::Neg
        } else if self.is_punct("!") {
            UnOp::Not
        } else {
            return self.postfix();
        };
        self.bump();
        self.enter()?;
        self.count_node()?;
        // `-` directly before a numeric literal makes a negative literal.
        if op == UnOp::Neg {
            match self.peek().clone() {
                Tok::Int(v, suffix) => {
                    let span = start.to(self.bump().span);
                    self.leave();
                    return self.int_lit(-(v as i128), suffix, span);
                }
                Tok::Float(f64v, f32v, suffix) => {
                    let span = start.to(self.bump().span);
                    self.leave();
                    return Ok(Expr {
                        id: NodeId(0),
                        span,
                        kind: ExprKind::Lit(Lit::Float {
                            f64: -f64v,
                            f32: -f32v,
                            suffix,
                        }),
                    });
                }
                _ => {}
            }
        }
        let inner = self.unary()?;
        self.leave();
        Ok(Expr {
            id: NodeId(0),
            span: start.to(inner.span),
            kind: ExprKind::Unary(op, Box::new(inner)),
        })
    }

    fn int_lit(&self, value: i128, suffix: Option<Scalar>, span: Span) -> PResult<Expr> {
        if value > u64::MAX as i128 || value < i64::MIN as i128 {
            return Err(Diagnostic::new(span, "integer literal out of range")
                .with_note("integer literals lie in -2^63 ..= 2^64-1"));
        }
        Ok(Expr {
            id: NodeId(0),
            span,
            kind: ExprKind::Lit(Lit::Int { value, suffix }),
        })
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        while self.is_punct("[") {
            self.bump();
            self.count_node()?;
            let idx = self.expr()?;
            let close = self.expect_punct("]")?;
            e = Expr {
                id: NodeId(0),
                span: e.span.to(close),
                kind: ExprKind::Index(Box::new(e), Box::new(idx)),
            };
        }
        Ok(e)
    }

    fn primary(&mut self) -> PResult<Expr> {
        self.count_node()?;
        let start = self.span();
        let lit = |kind| Expr {
            id: NodeId(0),
            span: start,
            kind,
        };
        match self.peek().clone() {
            Tok::Int(v, suffix) => {
                self.bump();
                self.int_lit(v as i128, suffix, start)
            }
            Tok::Float(f64v, f32v, suffix) => {
                self.bump();
                Ok(lit(ExprKind::Lit(Lit::Float {
                    f64: f64v,
                    f32: f32v,
                    suffix,
                })))
            }
            Tok::Kw("true") => {
                self.bump();
                Ok(lit(ExprKind::Lit(Lit::Bool(true))))
            }
            Tok::Kw("false") => {
                self.bump();
                Ok(lit(ExprKind::Lit(Lit::Bool(false))))
            }
            Tok::Punct("(") => {
                self.bump();
                self.enter()?;
                let e = self.expr()?;
                self.leave();
                let close = self.expect_punct(")")?;
                // Keep the parentheses in the span so that diagnostics point at them.
                Ok(Expr {
                    span: start.to(close),
                    ..e
                })
            }
            Tok::Ident(name) => {
                self.bump();
                let mut full = name.clone();
                let mut span = start;
                if self.is_punct("::") {
                    self.bump();
                    let (item, item_span) = self.ident("a name after `::`")?;
                    full = format!("{name}::{item}");
                    span = span.to(item_span);
                    if let Some(c) = float_const(&full) {
                        return Ok(Expr {
                            id: NodeId(0),
                            span,
                            kind: ExprKind::Lit(c),
                        });
                    }
                }
                if self.is_punct("(") {
                    self.bump();
                    let mut args = Vec::new();
                    while !self.is_punct(")") {
                        args.push(self.expr()?);
                        if !self.eat_punct(",") {
                            break;
                        }
                    }
                    let close = self.expect_punct(")")?;
                    let callee = match Builtin::from_name(&full) {
                        Some(b) => Callee::Builtin(b),
                        None if full.contains("::") => {
                            return Err(Diagnostic::new(
                                span,
                                format!("unknown builtin `{full}`"),
                            )
                            .with_note(
                                "path builtins are f32::from_bits, f32::to_bits, f64::from_bits, f64::to_bits",
                            ));
                        }
                        None => Callee::Func(full),
                    };
                    return Ok(Expr {
                        id: NodeId(0),
                        span: span.to(close),
                        kind: ExprKind::Call(callee, args),
                    });
                }
                if full.contains("::") {
                    return Err(Diagnostic::new(span, format!("unknown constant `{full}`"))
                        .with_note("constants are f32/f64 ::INFINITY, ::NEG_INFINITY and ::NAN"));
                }
                Ok(Expr {
                    id: NodeId(0),
                    span,
                    kind: ExprKind::Var(full),
                })
            }
            _ => Err(self.expected("an expression")),
        }
    }
}

/// `f32::INFINITY` and friends, parsed as suffixed literals.
fn float_const(path: &str) -> Option<Lit> {
    let (ty, name) = path.split_once("::")?;
    let v = match name {
        "INFINITY" => f64::INFINITY,
        "NEG_INFINITY" => f64::NEG_INFINITY,
        "NAN" => f64::NAN,
        _ => return None,
    };
    let suffix = match ty {
        "f32" => Scalar::F32,
        "f64" => Scalar::F64,
        _ => return None,
    };
    Some(Lit::Float {
        f64: v,
        f32: v as f32,
        suffix: Some(suffix),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(src: &str, expect: &str) {
        let err = parse(src).expect_err("expected a parse error");
        let text = err.render("t.cru", src);
        assert!(text.contains(expect), "wanted {expect:?} in:\n{text}");
    }

    #[test]
    fn parses_the_hash_example() {
        let p = parse(
            "fn hash(key: u64) -> u32 { let h: u64 = key * 0x9E3779B97F4A7C15; return (h >> 32) as u32 ^ h as u32; }",
        )
        .unwrap();
        assert_eq!(p.funcs.len(), 1);
        assert_eq!(p.funcs[0].body.stmts.len(), 2);
        // Ids are dense and pre-order: fn, block, let, ...
        assert_eq!(p.funcs[0].id, NodeId(0));
        assert_eq!(p.funcs[0].body.id, NodeId(1));
        assert_eq!(p.funcs[0].body.stmts[0].id, NodeId(2));
    }

    #[test]
    fn reports_errors_in_several_functions() {
        let src =
            "fn a() -> u32 { return 1 }\nfn b() -> u32 { let = 2; }\nfn c() -> u32 { return 3; }";
        let err = parse(src).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err:?}");
        assert!(err.render("t.cru", src).contains("t.cru:2:21"));
    }

    #[test]
    fn trailing_expression_hints_return() {
        check_err("fn f(x: u32) -> u32 { x }", "write `return <expr>;`");
    }

    #[test]
    fn chained_comparison_is_an_error() {
        check_err(
            "fn f(x: u32) -> bool { return 1 < x < 3; }",
            "cannot be chained",
        );
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let src = format!(
            "fn f() -> i32 {{ return {}1{}; }}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        check_err(&src, "nesting deeper than the limit");
    }

    #[test]
    fn oversize_input_is_rejected_quickly() {
        let src = "fn f() -> i32 { return 1; }\n".repeat(400_000);
        check_err(&src, "more than the limit");
    }
}
