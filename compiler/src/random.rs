//! Random well-typed programs and inputs, for differential tests and fuzzing.
//!
//! The generator is deterministic in its seed and covers every type, operator,
//! builtin and statement form, with literals biased towards edge cases (zero,
//! ±1, the extremes, NaN, ±0.0, infinities, shift counts past the width).
//! Every program it makes passes the checker; the tests assert that.

use crate::ir::{
    BinOp, Block, Builtin, Callee, Elem, Expr, ExprKind, Function, Lit, NodeId, Param, Program,
    Scalar, Span, Stmt, StmtKind, Type, UnOp,
};
use crate::value::{Arg, SliceData, Value};

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Shape limits of generated programs.
#[derive(Clone, Copy, Debug)]
pub struct GenConfig {
    /// Deepest expression tree.
    pub max_expr_depth: usize,
    /// Most statements per block (the final `return` excluded).
    pub max_stmts: usize,
    /// Most helper functions besides the entry.
    pub max_helpers: usize,
    /// Deepest nesting of `if` and `for` blocks.
    pub max_block_depth: usize,
}

impl GenConfig {
    /// Small programs: fast to run, still covering every construct.
    pub const SMALL: GenConfig = GenConfig {
        max_expr_depth: 4,
        max_stmts: 4,
        max_helpers: 2,
        max_block_depth: 2,
    };

    /// Straight-line programs: one function, `let`s and assignments, one `return`
    /// (what the tier-0 evaluator runs).
    pub const STRAIGHT: GenConfig = GenConfig {
        max_expr_depth: 5,
        max_stmts: 4,
        max_helpers: 0,
        max_block_depth: 0,
    };
}

/// A random entry signature of one to four scalar parameters.
pub fn scalar_signature(rng: &mut Rng) -> (Vec<Type>, Scalar) {
    let n = rng.below(4) + 1;
    let params = (0..n)
        .map(|_| Type::Scalar(rng.pick(&Scalar::ALL)))
        .collect();
    (params, rng.pick(&Scalar::ALL))
}

/// A random entry signature: up to four parameters, at most one of them a slice.
pub fn signature(rng: &mut Rng) -> (Vec<Type>, Scalar) {
    let n = rng.below(4) + 1;
    let mut params = Vec::new();
    let mut has_slice = false;
    for _ in 0..n {
        if !has_slice && rng.chance(0.25) {
            has_slice = true;
            params.push(Type::Slice(rng.pick(&Elem::ALL)));
        } else {
            params.push(Type::Scalar(rng.pick(&Scalar::ALL)));
        }
    }
    (params, rng.pick(&Scalar::ALL))
}

/// A random program whose entry `f` has the given signature.
pub fn program(rng: &mut Rng, cfg: &GenConfig, params: &[Type], ret: Scalar) -> Program {
    let mut funcs: Vec<Function> = Vec::new();
    let n_helpers = rng.below(cfg.max_helpers + 1);
    for h in 0..n_helpers {
        let (hp, hr) = signature(rng);
        let f = Gen::new(rng, cfg, &funcs).function(&format!("h{h}"), &hp, hr);
        funcs.push(f);
    }
    let f = Gen::new(rng, cfg, &funcs).function("f", params, ret);
    funcs.push(f);
    let mut p = Program { funcs };
    p.renumber();
    p
}

/// A random value of a type, biased towards edge cases.
pub fn value(rng: &mut Rng, ty: Scalar) -> Value {
    let bits = rng.next_u64();
    let edge = rng.chance(0.3);
    match ty {
        Scalar::Bool => Value::Bool(bits & 1 == 1),
        Scalar::I32 => Value::I32(if edge {
            rng.pick(&[0, 1, -1, 2, 31, 32, 33, i32::MIN, i32::MAX, -32])
        } else if rng.chance(0.5) {
            (bits as i32) % 100
        } else {
            bits as i32
        }),
        Scalar::U32 => Value::U32(if edge {
            rng.pick(&[0, 1, 2, 31, 32, 33, u32::MAX, 0x8000_0000])
        } else if rng.chance(0.5) {
            (bits as u32) % 100
        } else {
            bits as u32
        }),
        Scalar::I64 => Value::I64(if edge {
            rng.pick(&[0, 1, -1, 63, 64, 65, i64::MIN, i64::MAX])
        } else if rng.chance(0.5) {
            (bits as i64) % 100
        } else {
            bits as i64
        }),
        Scalar::U64 => Value::U64(if edge {
            rng.pick(&[0, 1, 63, 64, u64::MAX, 1 << 63])
        } else if rng.chance(0.5) {
            bits % 100
        } else {
            bits
        }),
        Scalar::F32 => Value::F32(if edge {
            rng.pick(&[
                0.0,
                -0.0,
                1.0,
                -1.0,
                0.5,
                f32::NAN,
                f32::from_bits(0x7fc0_1234),
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MIN_POSITIVE,
                f32::from_bits(1),
                f32::MAX,
                3e9,
                -3e9,
            ])
        } else if rng.chance(0.5) {
            ((bits % 2001) as f32 - 1000.0) / 8.0
        } else {
            f32::from_bits(bits as u32)
        }),
        Scalar::F64 => Value::F64(if edge {
            rng.pick(&[
                0.0,
                -0.0,
                1.0,
                -1.0,
                0.5,
                f64::NAN,
                f64::from_bits(0x7ff8_0000_0000_1234),
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MIN_POSITIVE,
                f64::from_bits(1),
                f64::MAX,
                1e19,
                -1e19,
            ])
        } else if rng.chance(0.5) {
            ((bits % 2001) as f64 - 1000.0) / 8.0
        } else {
            f64::from_bits(bits)
        }),
    }
}

/// A random argument of a parameter type (slices of 0 to 6 elements).
pub fn arg(rng: &mut Rng, ty: Type) -> Arg {
    match ty {
        Type::Scalar(s) => Arg::Scalar(value(rng, s)),
        Type::Slice(elem) => {
            let n = rng.below(7);
            let vals: Vec<Value> = (0..n).map(|_| value(rng, elem.scalar())).collect();
            let bits = vals.iter().map(|v| v.to_bits());
            Arg::Slice(match elem {
                Elem::U8 => SliceData::U8(bits.map(|b| b as u8).collect()),
                Elem::U32 => SliceData::U32(bits.map(|b| b as u32).collect()),
                Elem::U64 => SliceData::U64(bits.collect()),
                Elem::I32 => SliceData::I32(bits.map(|b| b as u32 as i32).collect()),
                Elem::I64 => SliceData::I64(bits.map(|b| b as i64).collect()),
                Elem::F32 => SliceData::F32(bits.map(|b| f32::from_bits(b as u32)).collect()),
                Elem::F64 => SliceData::F64(bits.map(f64::from_bits).collect()),
            })
        }
    }
}

/// A literal for a value; unsuffixed only where the default type is meant.
///
/// The syntax has one NaN literal per type, so a NaN becomes the canonical NaN.
pub fn literal(v: Value) -> Lit {
    let ty = v.ty();
    let v = match v {
        Value::F32(x) if x.is_nan() => Value::F32(f32::NAN),
        Value::F64(x) if x.is_nan() => Value::F64(f64::NAN),
        other => other,
    };
    match v {
        Value::Bool(b) => Lit::Bool(b),
        Value::F32(x) => Lit::Float {
            f64: x as f64,
            f32: x,
            suffix: Some(ty),
        },
        Value::F64(x) => Lit::Float {
            f64: x,
            f32: x as f32,
            suffix: Some(ty),
        },
        Value::I32(x) => Lit::Int {
            value: x as i128,
            suffix: Some(ty),
        },
        Value::I64(x) => Lit::Int {
            value: x as i128,
            suffix: Some(ty),
        },
        Value::U32(x) => Lit::Int {
            value: x as i128,
            suffix: Some(ty),
        },
        Value::U64(x) => Lit::Int {
            value: x as i128,
            suffix: Some(ty),
        },
    }
}

struct Gen<'r> {
    rng: &'r mut Rng,
    cfg: GenConfig,
    /// Callable helpers: name, parameter types, return type.
    helpers: Vec<(String, Vec<Type>, Scalar)>,
    /// Scopes of (name, type, assignable).
    scopes: Vec<Vec<(String, Type, bool)>>,
    next_local: usize,
}

fn e(kind: ExprKind) -> Expr {
    Expr {
        id: NodeId(0),
        span: Span::NONE,
        kind,
    }
}

fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    e(ExprKind::Binary(op, Box::new(a), Box::new(b)))
}

fn call(b: Builtin, args: Vec<Expr>) -> Expr {
    e(ExprKind::Call(Callee::Builtin(b), args))
}

impl<'r> Gen<'r> {
    fn new(rng: &'r mut Rng, cfg: &GenConfig, funcs: &[Function]) -> Gen<'r> {
        Gen {
            rng,
            cfg: *cfg,
            helpers: funcs
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        f.params.iter().map(|p| p.ty).collect(),
                        f.ret,
                    )
                })
                .collect(),
            scopes: Vec::new(),
            next_local: 0,
        }
    }

    fn function(mut self, name: &str, params: &[Type], ret: Scalar) -> Function {
        let params: Vec<Param> = params
            .iter()
            .enumerate()
            .map(|(i, ty)| Param {
                name: format!("p{i}"),
                ty: *ty,
                span: Span::NONE,
            })
            .collect();
        self.scopes = vec![
            params
                .iter()
                .map(|p| (p.name.clone(), p.ty, matches!(p.ty, Type::Scalar(_))))
                .collect(),
        ];
        let mut body = self.block(ret, 0);
        let value = self.expr(ret, self.cfg.max_expr_depth);
        body.stmts.push(Stmt::new(StmtKind::Return(value)));
        Function {
            id: NodeId(0),
            span: Span::NONE,
            name: name.to_string(),
            params,
            ret,
            body,
        }
    }

    fn block(&mut self, ret: Scalar, depth: usize) -> Block {
        self.scopes.push(Vec::new());
        let n = self.rng.below(self.cfg.max_stmts + 1);
        let mut stmts = Vec::new();
        for _ in 0..n {
            stmts.push(self.stmt(ret, depth));
        }
        self.scopes.pop();
        Block::new(stmts)
    }

    fn vars(&self, want: impl Fn(Type, bool) -> bool) -> Vec<(String, Type)> {
        self.scopes
            .iter()
            .flatten()
            .filter(|(_, t, m)| want(*t, *m))
            .map(|(n, t, _)| (n.clone(), *t))
            .collect()
    }

    fn stmt(&mut self, ret: Scalar, depth: usize) -> Stmt {
        let nested = depth < self.cfg.max_block_depth;
        let d = self.cfg.max_expr_depth;
        match self.rng.below(if nested { 6 } else { 3 }) {
            0 | 1 => {
                let ty = self.rng.pick(&Scalar::ALL);
                let init = self.expr(ty, d);
                let name = format!("v{}", self.next_local);
                self.next_local += 1;
                self.scopes.last_mut().expect("open scope").push((
                    name.clone(),
                    Type::Scalar(ty),
                    true,
                ));
                Stmt::new(StmtKind::Let {
                    name,
                    ty: if self.rng.chance(0.5) { Some(ty) } else { None },
                    init,
                })
            }
            2 => {
                let targets = self.vars(|t, m| m && matches!(t, Type::Scalar(_)));
                if targets.is_empty() {
                    return self.stmt(ret, self.cfg.max_block_depth);
                }
                let (name, ty) = targets[self.rng.below(targets.len())].clone();
                let value = self.expr(ty.as_scalar().expect("scalar"), d);
                Stmt::new(StmtKind::Assign { name, value })
            }
            3 => {
                let cond = self.expr(Scalar::Bool, d);
                let then_block = self.block(ret, depth + 1);
                let else_block = if self.rng.chance(0.5) {
                    Some(self.block(ret, depth + 1))
                } else {
                    None
                };
                Stmt::new(StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                })
            }
            4 => {
                // Early return inside a branch.
                let cond = self.expr(Scalar::Bool, d);
                let value = self.expr(ret, d);
                Stmt::new(StmtKind::If {
                    cond,
                    then_block: Block::new(vec![Stmt::new(StmtKind::Return(value))]),
                    else_block: None,
                })
            }
            _ => {
                let ty = self
                    .rng
                    .pick(&[Scalar::U32, Scalar::I32, Scalar::I64, Scalar::U64]);
                let lo = if ty.is_signed() {
                    self.rng.below(6) as i128 - 3
                } else {
                    self.rng.below(3) as i128
                };
                let hi = self.rng.below(7) as i128;
                let lit = |v: i128| {
                    e(ExprKind::Lit(Lit::Int {
                        value: v,
                        suffix: Some(ty),
                    }))
                };
                let slices = self.vars(|t, _| matches!(t, Type::Slice(_)));
                let end = if ty == Scalar::U32 && !slices.is_empty() && self.rng.chance(0.5) {
                    let (name, _) = slices[self.rng.below(slices.len())].clone();
                    call(Builtin::Len, vec![e(ExprKind::Var(name))])
                } else {
                    lit(hi)
                };
                let var = format!("i{}", self.next_local);
                self.next_local += 1;
                self.scopes
                    .push(vec![(var.clone(), Type::Scalar(ty), false)]);
                let body = self.block(ret, depth + 1);
                self.scopes.pop();
                Stmt::new(StmtKind::For {
                    var,
                    start: lit(lo),
                    end,
                    body,
                })
            }
        }
    }

    fn leaf(&mut self, ty: Scalar) -> Expr {
        let vars = self.vars(|t, _| t == Type::Scalar(ty));
        if !vars.is_empty() && self.rng.chance(0.6) {
            let (name, _) = vars[self.rng.below(vars.len())].clone();
            return e(ExprKind::Var(name));
        }
        let v = value(self.rng, ty);
        let mut lit = literal(v);
        // Unsuffixed literals where the default type is the one meant.
        if self.rng.chance(0.3) {
            match &mut lit {
                Lit::Int { suffix, .. } if ty == Scalar::I32 => *suffix = None,
                // `f64::NAN` and friends always print with their type.
                Lit::Float { suffix, f64, .. } if ty == Scalar::F64 && f64.is_finite() => {
                    *suffix = None
                }
                _ => {}
            }
        }
        e(ExprKind::Lit(lit))
    }

    fn expr(&mut self, ty: Scalar, depth: usize) -> Expr {
        if depth <= 1 || self.rng.chance(0.25) {
            return self.leaf(ty);
        }
        let d = depth - 1;
        let slices: Vec<(String, Elem)> = self
            .vars(|t, _| matches!(t, Type::Slice(_)))
            .into_iter()
            .filter_map(|(n, t)| match t {
                Type::Slice(el) => Some((n, el)),
                Type::Scalar(_) => None,
            })
            .collect();
        let helpers: Vec<usize> = (0..self.helpers.len())
            .filter(|&i| self.helpers[i].2 == ty)
            .collect();
        for _ in 0..8 {
            let choice = self.rng.below(14);
            let made = match choice {
                0 | 1 if ty.is_numeric() => {
                    let ops: &[BinOp] = if ty.is_int() {
                        &[
                            BinOp::Add,
                            BinOp::Sub,
                            BinOp::Mul,
                            BinOp::Div,
                            BinOp::Rem,
                            BinOp::BitAnd,
                            BinOp::BitOr,
                            BinOp::BitXor,
                            BinOp::Shl,
                            BinOp::Shr,
                        ]
                    } else {
                        &[BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div]
                    };
                    let op = self.rng.pick(ops);
                    Some(bin(op, self.expr(ty, d), self.expr(ty, d)))
                }
                2 if ty == Scalar::Bool => {
                    let operand = self.rng.pick(&Scalar::ALL);
                    let ops: &[BinOp] = if operand.is_numeric() {
                        &[
                            BinOp::Eq,
                            BinOp::Ne,
                            BinOp::Lt,
                            BinOp::Le,
                            BinOp::Gt,
                            BinOp::Ge,
                        ]
                    } else {
                        &[
                            BinOp::Eq,
                            BinOp::Ne,
                            BinOp::And,
                            BinOp::Or,
                            BinOp::BitXor,
                            BinOp::BitAnd,
                        ]
                    };
                    let op = self.rng.pick(ops);
                    Some(bin(op, self.expr(operand, d), self.expr(operand, d)))
                }
                3 => match (ty.is_numeric(), ty.is_int() || ty == Scalar::Bool) {
                    (true, _) if self.rng.chance(0.5) => {
                        Some(e(ExprKind::Unary(UnOp::Neg, Box::new(self.expr(ty, d)))))
                    }
                    (_, true) => Some(e(ExprKind::Unary(UnOp::Not, Box::new(self.expr(ty, d))))),
                    _ => None,
                },
                4 if ty != Scalar::Bool => {
                    let from = self.rng.pick(&Scalar::ALL);
                    Some(e(ExprKind::Cast(Box::new(self.expr(from, d)), ty)))
                }
                5 => Some(call(
                    Builtin::Select,
                    vec![
                        self.expr(Scalar::Bool, d),
                        self.expr(ty, d),
                        self.expr(ty, d),
                    ],
                )),
                6 if ty.is_float() => {
                    let b = self.rng.pick(&[
                        Builtin::Sqrt,
                        Builtin::Floor,
                        Builtin::Ceil,
                        Builtin::Trunc,
                        Builtin::Nearest,
                        Builtin::Abs,
                    ]);
                    Some(call(b, vec![self.expr(ty, d)]))
                }
                7 if ty.is_numeric() => {
                    let b = if ty.is_float() {
                        self.rng
                            .pick(&[Builtin::Min, Builtin::Max, Builtin::Copysign])
                    } else {
                        self.rng
                            .pick(&[Builtin::Min, Builtin::Max, Builtin::Rotl, Builtin::Rotr])
                    };
                    Some(call(b, vec![self.expr(ty, d), self.expr(ty, d)]))
                }
                8 if ty.is_int() => {
                    let b =
                        self.rng
                            .pick(&[Builtin::Clz, Builtin::Ctz, Builtin::Popcnt, Builtin::Abs]);
                    Some(call(b, vec![self.expr(ty, d)]))
                }
                9 => match ty {
                    Scalar::F32 => {
                        Some(call(Builtin::F32FromBits, vec![self.expr(Scalar::U32, d)]))
                    }
                    Scalar::F64 => {
                        Some(call(Builtin::F64FromBits, vec![self.expr(Scalar::U64, d)]))
                    }
                    Scalar::U32 => Some(call(Builtin::F32ToBits, vec![self.expr(Scalar::F32, d)])),
                    Scalar::U64 => Some(call(Builtin::F64ToBits, vec![self.expr(Scalar::F64, d)])),
                    _ => None,
                },
                10 => {
                    let fitting: Vec<&(String, Elem)> =
                        slices.iter().filter(|(_, el)| el.scalar() == ty).collect();
                    if fitting.is_empty() {
                        None
                    } else {
                        let (name, _) = fitting[self.rng.below(fitting.len())].clone();
                        Some(e(ExprKind::Index(
                            Box::new(e(ExprKind::Var(name))),
                            Box::new(self.expr(Scalar::U32, d)),
                        )))
                    }
                }
                11 if ty == Scalar::U32 && !slices.is_empty() => {
                    let (name, _) = slices[self.rng.below(slices.len())].clone();
                    Some(call(Builtin::Len, vec![e(ExprKind::Var(name))]))
                }
                12 if !helpers.is_empty() => {
                    let (name, params, _) =
                        self.helpers[helpers[self.rng.below(helpers.len())]].clone();
                    let mut args = Vec::new();
                    for p in &params {
                        match p {
                            Type::Scalar(s) => args.push(self.expr(*s, d)),
                            Type::Slice(el) => {
                                let fitting: Vec<&(String, Elem)> =
                                    slices.iter().filter(|(_, e2)| e2 == el).collect();
                                if fitting.is_empty() {
                                    return self.leaf(ty);
                                }
                                args.push(e(ExprKind::Var(fitting[0].0.clone())));
                            }
                        }
                    }
                    Some(e(ExprKind::Call(Callee::Func(name), args)))
                }
                13 if ty == Scalar::Bool => {
                    let op = self.rng.pick(&[BinOp::And, BinOp::Or]);
                    Some(bin(op, self.expr(ty, d), self.expr(ty, d)))
                }
                _ => None,
            };
            if let Some(x) = made {
                return x;
            }
        }
        self.leaf(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::interp::Interpreter;
    use crate::parser::parse;
    use crate::print::print;

    #[test]
    fn generated_programs_check_and_round_trip() {
        let mut rng = Rng::new(7);
        for _ in 0..300 {
            let (params, ret) = signature(&mut rng);
            let p = program(&mut rng, &GenConfig::SMALL, &params, ret);
            let checked = match check(&p) {
                Ok(c) => c,
                Err(d) => panic!("{}\n{d:?}", print(&p)),
            };
            let text = print(&p);
            let reparsed =
                parse(&text).unwrap_or_else(|d| panic!("{text}\n{}", d.render("gen.cru", &text)));
            assert_eq!(reparsed.without_spans(), p.without_spans(), "{text}");
            // And it runs.
            let interp = Interpreter::new(&checked);
            let (f, _) = checked.func("f").unwrap();
            let args: Vec<Arg> = params.iter().map(|t| arg(&mut rng, *t)).collect();
            interp.run(f, &args, 10_000_000).unwrap();
        }
    }
}
