//! Skeletons: programs with holes, the genotype–phenotype map of the search.
//!
//! A task's program is a [`Skeleton`]: candidate-language text whose fixed
//! parts stay as written and whose holes, written as variables named
//! `__hole_T` (`T` a scalar type), are synthesised.
//! A task given only a signature gets the skeleton `{ return __hole_T; }`.
//! A genome is one expression per hole ([`crate::gp::Genome`]); [`Skeleton::fill`]
//! makes the phenotype program and [`Skeleton::genes_from`] goes back, which is
//! how seeds (genetic improvement of an existing function) and checkpoints
//! enter the population.
//!
//! Genes keep a type suffix on every numeric literal, so a gene's types can be
//! inferred without the checker; [`strip_suffixes`] removes the suffixes the
//! context makes redundant before a program is shown or archived.

use crucible_compiler::ir::{
    self, Block, Builtin, Callee, Expr, ExprKind, Lit, Scalar, StmtKind, Type,
};
use crucible_compiler::{CheckedProgram, check, parse};

const HOLE_PREFIX: &str = "__hole_";

/// One hole: its type and the variables in scope there.
#[derive(Clone, Debug)]
pub struct Hole {
    /// The type the hole's expression must have.
    pub ty: Scalar,
    /// Variables visible at the hole, in declaration order.
    pub scope: Vec<(String, Type)>,
}

/// A program with holes.
#[derive(Clone, Debug)]
pub struct Skeleton {
    program: ir::Program,
    entry: String,
    holes: Vec<Hole>,
}

fn hole_type(e: &Expr) -> Option<Scalar> {
    match &e.kind {
        ExprKind::Var(name) => name.strip_prefix(HOLE_PREFIX).and_then(Scalar::from_name),
        _ => None,
    }
}

/// A literal of type `ty` with value zero and an explicit suffix.
pub fn zero_lit(ty: Scalar) -> Expr {
    Expr::new(ExprKind::Lit(match ty {
        Scalar::Bool => Lit::Bool(false),
        s if s.is_float() => Lit::Float {
            f64: 0.0,
            f32: 0.0,
            suffix: Some(s),
        },
        s => Lit::Int {
            value: 0,
            suffix: Some(s),
        },
    }))
}

impl Skeleton {
    /// The skeleton `sig { return __hole_RET; }`.
    ///
    /// # Errors
    /// A message if the signature does not parse or check.
    pub fn from_signature(sig: &str) -> Result<Skeleton, String> {
        let ret = sig
            .rsplit("->")
            .next()
            .map(str::trim)
            .and_then(Scalar::from_name)
            .ok_or_else(|| format!("`{sig}` does not end in `-> <scalar type>`"))?;
        let src = format!("{sig} {{ return {HOLE_PREFIX}{ret}; }}");
        Skeleton::from_text(&src, None)
    }

    /// Parses a skeleton; `entry` defaults to the first function.
    ///
    /// # Errors
    /// A message with rendered diagnostics if the text does not parse or,
    /// with its holes filled by zeros, does not check.
    pub fn from_text(src: &str, entry: Option<&str>) -> Result<Skeleton, String> {
        let program = parse(src).map_err(|d| d.render("skeleton", src))?;
        let entry = match entry {
            Some(e) => e.to_string(),
            None => program
                .funcs
                .first()
                .map(|f| f.name.clone())
                .ok_or("the skeleton has no functions")?,
        };
        let mut skeleton = Skeleton {
            program,
            entry,
            holes: Vec::new(),
        };
        let n_holes = skeleton.count_holes();
        let types = skeleton.hole_types();
        let zeros: Vec<Expr> = types.iter().map(|&t| zero_lit(t)).collect();
        debug_assert_eq!(zeros.len(), n_holes);
        let filled = skeleton.fill(&zeros);
        let checked = check(&filled).map_err(|d| d.render("skeleton", src))?;
        if checked.func(&skeleton.entry).is_none() {
            return Err(format!("no function `{}`", skeleton.entry));
        }
        skeleton.program = filled_ids(&skeleton.program);
        skeleton.holes = scopes(&skeleton.program, &checked);
        Ok(skeleton)
    }

    /// The entry function's name.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The holes, in pre-order.
    pub fn holes(&self) -> &[Hole] {
        &self.holes
    }

    /// The entry's parameter types.
    pub fn params(&self) -> Vec<Type> {
        let (_, f) = self
            .program
            .func(&self.entry)
            .expect("checked at construction");
        f.params.iter().map(|p| p.ty).collect()
    }

    /// The entry's return type.
    pub fn ret(&self) -> Scalar {
        self.program
            .func(&self.entry)
            .expect("checked at construction")
            .1
            .ret
    }

    fn count_holes(&self) -> usize {
        self.hole_types().len()
    }

    fn hole_types(&self) -> Vec<Scalar> {
        let mut out = Vec::new();
        self.program.visit(&mut |node| {
            if let ir::Node::Expr(e) = node
                && let Some(t) = hole_type(e)
            {
                out.push(t);
            }
        });
        out
    }

    /// The phenotype: the skeleton with hole `k` replaced by `genes[k]`.
    ///
    /// # Panics
    /// If `genes` has fewer entries than there are holes.
    pub fn fill(&self, genes: &[Expr]) -> ir::Program {
        let mut program = self.program.clone();
        let mut k = 0;
        program.visit_mut(&mut |node| {
            if let ir::NodeMut::Expr(e) = node
                && hole_type(e).is_some()
            {
                *e = genes[k].clone();
                k += 1;
            }
        });
        program.renumber();
        program
    }

    /// The genes of a program with this skeleton's shape, with every numeric
    /// literal given its (checked) type as suffix.
    ///
    /// # Errors
    /// A message if the program does not check or does not match the skeleton.
    pub fn genes_from(&self, program: &ir::Program) -> Result<Vec<Expr>, String> {
        let checked = check(program).map_err(|d| format!("does not check: {}", d.0[0].message))?;
        let mut genes = Vec::new();
        if self.program.funcs.len() != checked.program().funcs.len() {
            return Err("function count differs from the skeleton".into());
        }
        for (a, b) in self.program.funcs.iter().zip(&checked.program().funcs) {
            if a.name != b.name || a.params != b.params || a.ret != b.ret {
                return Err(format!("function `{}` differs from the skeleton", b.name));
            }
            match_block(&a.body, &b.body, &checked, &mut genes)?;
        }
        Ok(genes)
    }
}

fn filled_ids(p: &ir::Program) -> ir::Program {
    let mut p = p.clone();
    p.renumber();
    p
}

fn match_block(
    a: &Block,
    b: &Block,
    checked: &CheckedProgram,
    genes: &mut Vec<Expr>,
) -> Result<(), String> {
    if a.stmts.len() != b.stmts.len() {
        return Err("statement count differs from the skeleton".into());
    }
    for (sa, sb) in a.stmts.iter().zip(&b.stmts) {
        match (&sa.kind, &sb.kind) {
            (
                StmtKind::Let {
                    name: na,
                    ty: ta,
                    init: ea,
                },
                StmtKind::Let {
                    name: nb,
                    ty: tb,
                    init: eb,
                },
            ) if na == nb && ta == tb => {
                match_expr(ea, eb, checked, genes)?;
            }
            (
                StmtKind::Assign {
                    name: na,
                    value: ea,
                },
                StmtKind::Assign {
                    name: nb,
                    value: eb,
                },
            ) if na == nb => {
                match_expr(ea, eb, checked, genes)?;
            }
            (StmtKind::Return(ea), StmtKind::Return(eb)) => match_expr(ea, eb, checked, genes)?,
            (
                StmtKind::If {
                    cond: ca,
                    then_block: ta,
                    else_block: ea,
                },
                StmtKind::If {
                    cond: cb,
                    then_block: tb,
                    else_block: eb,
                },
            ) => {
                match_expr(ca, cb, checked, genes)?;
                match_block(ta, tb, checked, genes)?;
                match (ea, eb) {
                    (Some(x), Some(y)) => match_block(x, y, checked, genes)?,
                    (None, None) => {}
                    _ => return Err("`else` differs from the skeleton".into()),
                }
            }
            (
                StmtKind::For {
                    var: va,
                    start: sa2,
                    end: ea,
                    body: ba,
                },
                StmtKind::For {
                    var: vb,
                    start: sb2,
                    end: eb,
                    body: bb,
                },
            ) if va == vb => {
                match_expr(sa2, sb2, checked, genes)?;
                match_expr(ea, eb, checked, genes)?;
                match_block(ba, bb, checked, genes)?;
            }
            _ => return Err("a statement differs from the skeleton".into()),
        }
    }
    Ok(())
}

fn match_expr(
    a: &Expr,
    b: &Expr,
    checked: &CheckedProgram,
    genes: &mut Vec<Expr>,
) -> Result<(), String> {
    if let Some(t) = hole_type(a) {
        if checked.ty(b) != Type::Scalar(t) {
            return Err(format!("a hole of type `{t}` holds a `{}`", checked.ty(b)));
        }
        let mut gene = b.clone();
        add_suffixes(&mut gene, checked);
        genes.push(gene);
        return Ok(());
    }
    let same_node = match (&a.kind, &b.kind) {
        (ExprKind::Lit(x), ExprKind::Lit(y)) => lit_value_eq(x, y),
        (ExprKind::Var(x), ExprKind::Var(y)) => x == y,
        (ExprKind::Unary(x, _), ExprKind::Unary(y, _)) => x == y,
        (ExprKind::Binary(x, ..), ExprKind::Binary(y, ..)) => x == y,
        (ExprKind::Call(x, xa), ExprKind::Call(y, ya)) => x == y && xa.len() == ya.len(),
        (ExprKind::Cast(_, x), ExprKind::Cast(_, y)) => x == y,
        (ExprKind::Index(..), ExprKind::Index(..)) => true,
        _ => false,
    };
    if !same_node {
        return Err("an expression outside the holes differs from the skeleton".into());
    }
    for (ca, cb) in a.children().into_iter().zip(b.children()) {
        match_expr(ca, cb, checked, genes)?;
    }
    Ok(())
}

fn lit_value_eq(a: &Lit, b: &Lit) -> bool {
    match (a, b) {
        (Lit::Int { value: x, .. }, Lit::Int { value: y, .. }) => x == y,
        (Lit::Float { f64: x, .. }, Lit::Float { f64: y, .. }) => x.to_bits() == y.to_bits(),
        (Lit::Bool(x), Lit::Bool(y)) => x == y,
        _ => false,
    }
}

/// Gives every numeric literal in `e` its checked type as suffix.
pub fn add_suffixes(e: &mut Expr, checked: &CheckedProgram) {
    fn go(e: &mut Expr, types: &dyn Fn(ir::NodeId) -> Option<Type>) {
        let ty = types(e.id).and_then(Type::as_scalar);
        if let ExprKind::Lit(lit) = &mut e.kind {
            match lit {
                Lit::Int { suffix, .. } => *suffix = ty,
                Lit::Float { f64, f32, suffix } => {
                    if ty == Some(Scalar::F32) {
                        *f64 = *f32 as f64;
                    } else {
                        *f32 = *f64 as f32;
                    }
                    *suffix = ty;
                }
                Lit::Bool(_) => {}
            }
        }
        for c in e.children_mut() {
            go(c, types);
        }
    }
    go(e, &|id| checked.node(id).ty);
}

fn scopes(program: &ir::Program, checked: &CheckedProgram) -> Vec<Hole> {
    let mut holes = Vec::new();
    for (fi, func) in program.funcs.iter().enumerate() {
        let info = checked.func_info(ir::FuncId(fi as u32));
        let mut scope: Vec<(String, Type)> =
            func.params.iter().map(|p| (p.name.clone(), p.ty)).collect();
        scope_block(&func.body, checked, info, &mut scope, &mut holes);
    }
    holes
}

fn scope_block(
    b: &Block,
    checked: &CheckedProgram,
    info: &crucible_compiler::check::FuncInfo,
    scope: &mut Vec<(String, Type)>,
    holes: &mut Vec<Hole>,
) {
    let mark = scope.len();
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Let { name, init, .. } => {
                scope_expr(init, scope, holes);
                let ty = info.locals[checked.local(s.id).index()];
                scope.push((name.clone(), ty));
            }
            StmtKind::Assign { value, .. } | StmtKind::Return(value) => {
                scope_expr(value, scope, holes)
            }
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                scope_expr(cond, scope, holes);
                scope_block(then_block, checked, info, scope, holes);
                if let Some(e) = else_block {
                    scope_block(e, checked, info, scope, holes);
                }
            }
            StmtKind::For {
                var,
                start,
                end,
                body,
            } => {
                scope_expr(start, scope, holes);
                scope_expr(end, scope, holes);
                let ty = info.locals[checked.local(s.id).index()];
                scope.push((var.clone(), ty));
                scope_block(body, checked, info, scope, holes);
                scope.pop();
            }
        }
    }
    scope.truncate(mark);
}

fn scope_expr(e: &Expr, scope: &[(String, Type)], holes: &mut Vec<Hole>) {
    if let Some(ty) = hole_type(e) {
        holes.push(Hole {
            ty,
            scope: scope.to_vec(),
        });
        return;
    }
    for c in e.children() {
        scope_expr(c, scope, holes);
    }
}

/// Removes the literal suffixes that the checker would infer from context.
///
/// Follows the checker's bidirectional rules: a literal takes the type its
/// parent expects; in an operand pair without an expected type (comparison,
/// loop bounds) the second operand takes the first's type.
pub fn strip_suffixes(program: &mut ir::Program) {
    for func in &mut program.funcs {
        strip_block(&mut func.body);
    }
}

fn strip_block(b: &mut Block) {
    for s in &mut b.stmts {
        match &mut s.kind {
            StmtKind::Let { ty, init, .. } => strip_expr(init, ty.is_some()),
            StmtKind::Assign { value, .. } | StmtKind::Return(value) => strip_expr(value, true),
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                strip_expr(cond, true);
                strip_block(then_block);
                if let Some(e) = else_block {
                    strip_block(e);
                }
            }
            StmtKind::For {
                start, end, body, ..
            } => {
                strip_pair(start, end, false);
                strip_block(body);
            }
        }
    }
}

fn is_lit(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Lit(Lit::Int { .. } | Lit::Float { .. }))
}

fn strip_pair(a: &mut Expr, b: &mut Expr, ctx: bool) {
    if ctx {
        strip_expr(a, true);
        strip_expr(b, true);
    } else if is_lit(a) && !is_lit(b) {
        strip_expr(b, false);
        strip_expr(a, true);
    } else {
        strip_expr(a, false);
        strip_expr(b, true);
    }
}

fn strip_expr(e: &mut Expr, ctx: bool) {
    match &mut e.kind {
        ExprKind::Lit(Lit::Int { suffix, .. } | Lit::Float { suffix, .. }) => {
            if ctx {
                *suffix = None;
            }
        }
        ExprKind::Lit(Lit::Bool(_)) | ExprKind::Var(_) => {}
        ExprKind::Unary(_, x) => strip_expr(x, ctx),
        ExprKind::Binary(op, a, b) => {
            let operand_ctx =
                !op.is_comparison() && ctx || matches!(op, ir::BinOp::And | ir::BinOp::Or);
            strip_pair(a, b, operand_ctx);
        }
        ExprKind::Cast(x, _) => strip_expr(x, false),
        ExprKind::Index(_, i) => strip_expr(i, true),
        ExprKind::Call(Callee::Func(_), args) => {
            for a in args {
                strip_expr(a, true);
            }
        }
        ExprKind::Call(Callee::Builtin(b), args) => match b {
            Builtin::Min | Builtin::Max | Builtin::Copysign | Builtin::Rotl | Builtin::Rotr => {
                let (x, y) = args.split_at_mut(1);
                strip_pair(&mut x[0], &mut y[0], ctx);
            }
            Builtin::Select => {
                let (c, rest) = args.split_at_mut(1);
                strip_expr(&mut c[0], true);
                let (x, y) = rest.split_at_mut(1);
                strip_pair(&mut x[0], &mut y[0], ctx);
            }
            Builtin::F32FromBits
            | Builtin::F32ToBits
            | Builtin::F64FromBits
            | Builtin::F64ToBits => strip_expr(&mut args[0], true),
            Builtin::Len => {}
            _ => strip_expr(&mut args[0], ctx),
        },
    }
}

/// The canonical display text of a phenotype: suffixes stripped where the
/// checker infers them (kept if stripping would change the program's types).
pub fn display_text(program: &ir::Program) -> String {
    let mut stripped = program.clone();
    strip_suffixes(&mut stripped);
    match (check(&stripped), check(program)) {
        (Ok(a), Ok(b)) if same_types(&a, &b) => crucible_compiler::print(&stripped),
        _ => crucible_compiler::print(program),
    }
}

fn same_types(a: &CheckedProgram, b: &CheckedProgram) -> bool {
    a.node_count() == b.node_count()
        && (0..a.node_count())
            .all(|i| a.node(ir::NodeId(i as u32)).ty == b.node(ir::NodeId(i as u32)).ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_skeleton_has_one_hole() {
        let s = Skeleton::from_signature("fn f(x: f64, n: u32) -> f64").unwrap();
        assert_eq!(s.holes().len(), 1);
        assert_eq!(s.holes()[0].ty, Scalar::F64);
        assert_eq!(s.holes()[0].scope.len(), 2);
    }

    #[test]
    fn loop_skeleton_scopes() {
        let src = "fn f(xs: [i32]) -> i32 {
            let acc: i32 = __hole_i32;
            for i in 0u32..len(xs) {
                acc = __hole_i32;
            }
            return __hole_i32;
        }";
        let s = Skeleton::from_text(src, None).unwrap();
        let names: Vec<Vec<&str>> = s
            .holes()
            .iter()
            .map(|h| h.scope.iter().map(|(n, _)| n.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![vec!["xs"], vec!["xs", "acc", "i"], vec!["xs", "acc"]]
        );
    }

    #[test]
    fn genes_round_trip_through_text() {
        let s = Skeleton::from_signature("fn f(x: u64) -> u64").unwrap();
        let p =
            parse("fn f(x: u64) -> u64 { return (x ^ x >> 33) * 0xff51afd7ed558ccd; }").unwrap();
        let genes = s.genes_from(&p).unwrap();
        let filled = s.fill(&genes);
        let text = display_text(&filled);
        assert_eq!(text, crucible_compiler::print(&p));
        let again = s.genes_from(&parse(&text).unwrap()).unwrap();
        assert_eq!(again, genes);
    }

    #[test]
    fn comparison_of_literals_keeps_a_suffix() {
        let s = Skeleton::from_signature("fn f(x: u64) -> bool").unwrap();
        let p = parse("fn f(x: u64) -> bool { return 3u64 < 4u64; }").unwrap();
        let genes = s.genes_from(&p).unwrap();
        let text = display_text(&s.fill(&genes));
        assert!(text.contains("3u64 < 4"), "{text}");
    }
}
