//! Representation and variation: typed expression genes over a primitive set.
//!
//! A [`Genome`] is one expression per skeleton hole. Every operator keeps
//! genes well typed by construction (Montana's strongly typed GP): a node is
//! only ever replaced by an expression of its own type built from the
//! variables in scope at its hole. The engine still type-checks every
//! offspring and counts the rejects, as a guard against a bug here.
//!
//! Every operator takes the RNG as its first argument (as Operon's do) and
//! returns `None` when it does not apply (no constant to perturb, say).

use crucible_compiler::ir::{BinOp, Builtin, Callee, Expr, ExprKind, Lit, Scalar, Type, UnOp};
use crucible_compiler::value::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::skeleton::{Hole, Skeleton, zero_lit};
use crate::task::{PrimitiveSpec, scalar_named};

/// One expression per hole of the task's skeleton.
pub type Genome = Vec<Expr>;

/// What a production builds.
#[derive(Clone, Debug, PartialEq)]
pub enum Prim {
    /// A binary operator.
    Bin(BinOp),
    /// A unary operator.
    Un(UnOp),
    /// A builtin call.
    Call(Builtin),
    /// `x as T`.
    Cast(Scalar),
    /// `slice[i]` of the named slice parameter.
    Index(String),
}

/// A typed production: `prim(args...) -> ret`.
#[derive(Clone, Debug)]
pub struct Prod {
    /// What it builds.
    pub prim: Prim,
    /// Argument types.
    pub args: Vec<Scalar>,
    /// Result type.
    pub ret: Scalar,
}

#[derive(Clone, Debug, Default)]
struct Consts {
    range: Option<(f64, f64)>,
    values: Vec<Value>,
}

/// The task's primitive set, resolved into typed productions.
#[derive(Clone, Debug)]
pub struct PrimitiveSet {
    prods: Vec<Prod>,
    consts: [Consts; 7],
    constant_rate: f64,
    slices: bool,
}

fn sidx(t: Scalar) -> usize {
    Scalar::ALL
        .iter()
        .position(|s| *s == t)
        .expect("every scalar is in ALL")
}

impl PrimitiveSet {
    /// Resolves the `[primitives]` table against the skeleton.
    ///
    /// # Errors
    /// A message naming an unknown operator, builtin or type.
    pub fn from_spec(spec: &PrimitiveSpec, skeleton: &Skeleton) -> Result<PrimitiveSet, String> {
        let mut types: Vec<Scalar> = Vec::new();
        for t in &spec.types {
            types.push(scalar_named(t).map_err(|m| format!("types: {m}"))?);
        }
        if types.is_empty() {
            for p in skeleton.params() {
                if let Type::Scalar(s) = p {
                    types.push(s);
                }
            }
            types.push(skeleton.ret());
            for h in skeleton.holes() {
                types.push(h.ty);
            }
        }
        let mut ops = Vec::new();
        for o in &spec.ops {
            let op = match o.as_str() {
                "neg" => Err(UnOp::Neg),
                "not" => Err(UnOp::Not),
                s => Ok(BinOp::ALL
                    .into_iter()
                    .find(|b| b.symbol() == s)
                    .ok_or_else(|| format!("ops: unknown operator `{s}`"))?),
            };
            ops.push(op);
        }
        if ops
            .iter()
            .any(|o| matches!(o, Ok(b) if b.is_comparison() || matches!(b, BinOp::And | BinOp::Or)))
        {
            types.push(Scalar::Bool);
        }
        let mut builtins = Vec::new();
        for b in &spec.builtins {
            let b =
                Builtin::from_name(b).ok_or_else(|| format!("builtins: unknown builtin `{b}`"))?;
            if b == Builtin::Select {
                types.push(Scalar::Bool);
            }
            builtins.push(b);
        }
        types.sort_by_key(|t| sidx(*t));
        types.dedup();
        let mut prods = Vec::new();
        let bin = |prods: &mut Vec<Prod>, prim: Prim, t: Scalar, ret: Scalar| {
            prods.push(Prod {
                prim,
                args: vec![t, t],
                ret,
            });
        };
        for op in &ops {
            for &t in &types {
                match op {
                    Ok(b) => {
                        use BinOp::*;
                        let ok = match b {
                            Add | Sub | Mul | Div => t.is_numeric(),
                            Rem => t.is_int(),
                            BitAnd | BitOr | BitXor | Shl | Shr => t.is_int(),
                            Eq | Ne | Lt | Le | Gt | Ge => t.is_numeric(),
                            And | Or => t == Scalar::Bool,
                        };
                        if ok {
                            let ret = if b.is_comparison() { Scalar::Bool } else { t };
                            bin(&mut prods, Prim::Bin(*b), t, ret);
                        }
                    }
                    Err(u) => {
                        let ok = match u {
                            UnOp::Neg => t.is_numeric(),
                            UnOp::Not => t.is_int() || t == Scalar::Bool,
                        };
                        if ok {
                            prods.push(Prod {
                                prim: Prim::Un(*u),
                                args: vec![t],
                                ret: t,
                            });
                        }
                    }
                }
            }
        }
        for &b in &builtins {
            use Builtin::*;
            let has = |t: Scalar| types.contains(&t);
            match b {
                F32FromBits if has(Scalar::U32) && has(Scalar::F32) => prods.push(Prod {
                    prim: Prim::Call(b),
                    args: vec![Scalar::U32],
                    ret: Scalar::F32,
                }),
                F32ToBits if has(Scalar::U32) && has(Scalar::F32) => prods.push(Prod {
                    prim: Prim::Call(b),
                    args: vec![Scalar::F32],
                    ret: Scalar::U32,
                }),
                F64FromBits if has(Scalar::U64) && has(Scalar::F64) => prods.push(Prod {
                    prim: Prim::Call(b),
                    args: vec![Scalar::U64],
                    ret: Scalar::F64,
                }),
                F64ToBits if has(Scalar::U64) && has(Scalar::F64) => prods.push(Prod {
                    prim: Prim::Call(b),
                    args: vec![Scalar::F64],
                    ret: Scalar::U64,
                }),
                F32FromBits | F32ToBits | F64FromBits | F64ToBits | Len => {}
                _ => {
                    for &t in &types {
                        let (ok, args) = match b {
                            Sqrt | Floor | Ceil | Trunc | Nearest => (t.is_float(), vec![t]),
                            Abs => (t.is_numeric(), vec![t]),
                            Min | Max => (t.is_numeric(), vec![t, t]),
                            Copysign => (t.is_float(), vec![t, t]),
                            Rotl | Rotr => (t.is_int(), vec![t, t]),
                            Clz | Ctz | Popcnt => (t.is_int(), vec![t]),
                            Select => (true, vec![Scalar::Bool, t, t]),
                            _ => (false, vec![]),
                        };
                        if ok {
                            prods.push(Prod {
                                prim: Prim::Call(b),
                                args,
                                ret: t,
                            });
                        }
                    }
                }
            }
        }
        if spec.casts {
            for &from in &types {
                for &to in &types {
                    if from != to && to != Scalar::Bool && from != Scalar::Bool {
                        prods.push(Prod {
                            prim: Prim::Cast(to),
                            args: vec![from],
                            ret: to,
                        });
                    }
                }
            }
        }
        let mut consts: [Consts; 7] = Default::default();
        if spec.constants.is_empty() {
            for t in Scalar::ALL {
                consts[sidx(t)].range = Some(if t.is_float() {
                    (-1.0, 1.0)
                } else {
                    (0.0, 8.0)
                });
            }
        }
        for (i, c) in spec.constants.iter().enumerate() {
            let t = scalar_named(&c.ty).map_err(|m| format!("constants[{i}].type: {m}"))?;
            let slot = &mut consts[sidx(t)];
            match (c.lo, c.hi) {
                (Some(lo), Some(hi)) if lo <= hi => slot.range = Some((lo, hi)),
                (None, None) => {}
                _ => return Err(format!("constants[{i}]: give both `lo` ≤ `hi` or neither")),
            }
            for v in &c.values {
                slot.values.push(Value::parse(t, v).ok_or_else(|| {
                    format!("constants[{i}].values: `{v}` is not a `{t}` literal")
                })?);
            }
        }
        let constant_rate = spec.constant_rate.unwrap_or(0.3);
        if !(0.0..=1.0).contains(&constant_rate) {
            return Err("constant_rate must lie in 0..=1".into());
        }
        Ok(PrimitiveSet {
            prods,
            consts,
            constant_rate,
            slices: spec.slices,
        })
    }

    /// The productions.
    pub fn prods(&self) -> &[Prod] {
        &self.prods
    }

    fn prods_for<'a>(&'a self, t: Scalar, hole: &'a Hole) -> impl Iterator<Item = Prod> + 'a {
        let own = self.prods.iter().filter(move |p| p.ret == t).cloned();
        let idx = self
            .slices
            .then(|| {
                hole.scope.iter().filter_map(move |(name, ty)| match ty {
                    Type::Slice(e) if e.scalar() == t => Some(Prod {
                        prim: Prim::Index(name.clone()),
                        args: vec![Scalar::U32],
                        ret: t,
                    }),
                    _ => None,
                })
            })
            .into_iter()
            .flatten();
        own.chain(idx)
    }

    fn vars(&self, t: Scalar, hole: &Hole) -> Vec<Expr> {
        let mut out: Vec<Expr> = hole
            .scope
            .iter()
            .filter(|(_, ty)| *ty == Type::Scalar(t))
            .map(|(n, _)| Expr::new(ExprKind::Var(n.clone())))
            .collect();
        if self.slices && t == Scalar::U32 {
            for (n, ty) in &hole.scope {
                if matches!(ty, Type::Slice(_)) {
                    out.push(Expr::new(ExprKind::Call(
                        Callee::Builtin(Builtin::Len),
                        vec![Expr::new(ExprKind::Var(n.clone()))],
                    )));
                }
            }
        }
        out
    }

    fn has_consts(&self, t: Scalar) -> bool {
        let c = &self.consts[sidx(t)];
        t == Scalar::Bool || c.range.is_some() || !c.values.is_empty()
    }

    /// A random constant of type `t` (with its suffix).
    pub fn constant(&self, rng: &mut ChaCha8Rng, t: Scalar) -> Expr {
        let c = &self.consts[sidx(t)];
        let use_value = !c.values.is_empty() && (c.range.is_none() || rng.random_bool(0.5));
        let value = if t == Scalar::Bool {
            Value::Bool(rng.random_bool(0.5))
        } else if use_value {
            c.values[rng.random_range(0..c.values.len())]
        } else if let Some((lo, hi)) = c.range {
            let x = lo + (hi - lo) * rng.random::<f64>();
            match t {
                Scalar::F64 => Value::F64(round_sig(x)),
                Scalar::F32 => Value::F32(round_sig(x) as f32),
                _ => int_value(t, x.round() as i128),
            }
        } else {
            Value::zero(t)
        };
        lit_expr(value)
    }

    /// A terminal of type `t` at `hole`.
    pub fn terminal(&self, rng: &mut ChaCha8Rng, t: Scalar, hole: &Hole) -> Expr {
        let vars = self.vars(t, hole);
        let consts = self.has_consts(t);
        if !vars.is_empty() && (!consts || !rng.random_bool(self.constant_rate)) {
            return vars[rng.random_range(0..vars.len())].clone();
        }
        if consts {
            return self.constant(rng, t);
        }
        zero_lit(t)
    }

    /// A random expression of type `t` no deeper than `depth`: `full` grows
    /// every branch to the depth, otherwise leaves may come early (grow).
    pub fn generate(
        &self,
        rng: &mut ChaCha8Rng,
        t: Scalar,
        depth: usize,
        full: bool,
        hole: &Hole,
    ) -> Expr {
        let prods: Vec<Prod> = if depth > 1 {
            self.prods_for(t, hole).collect()
        } else {
            Vec::new()
        };
        let n_terms = self.vars(t, hole).len() + usize::from(self.has_consts(t));
        let leaf = prods.is_empty()
            || (!full && rng.random_range(0..prods.len() + n_terms.max(1)) < n_terms.max(1));
        if leaf {
            return self.terminal(rng, t, hole);
        }
        let p = &prods[rng.random_range(0..prods.len())];
        let children: Vec<Expr> = p
            .args
            .iter()
            .map(|&a| self.generate(rng, a, depth - 1, full, hole))
            .collect();
        build(&p.prim, children)
    }
}

fn round_sig(x: f64) -> f64 {
    // Four significant digits keep evolved constants readable.
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let mag = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * mag).round() / mag
}

/// The value of type `t` congruent to `v` modulo 2^width.
pub fn int_value(t: Scalar, v: i128) -> Value {
    match t {
        Scalar::I32 => Value::I32(v as i32),
        Scalar::I64 => Value::I64(v as i64),
        Scalar::U32 => Value::U32(v as u32),
        Scalar::U64 => Value::U64(v as u64),
        Scalar::F32 => Value::F32(v as f32),
        Scalar::F64 => Value::F64(v as f64),
        Scalar::Bool => Value::Bool(v != 0),
    }
}

/// A suffixed literal expression for a value.
pub fn lit_expr(v: Value) -> Expr {
    let t = v.ty();
    let lit = match v {
        Value::I32(x) => Lit::Int {
            value: x as i128,
            suffix: Some(t),
        },
        Value::I64(x) => Lit::Int {
            value: x as i128,
            suffix: Some(t),
        },
        Value::U32(x) => Lit::Int {
            value: x as i128,
            suffix: Some(t),
        },
        Value::U64(x) => Lit::Int {
            value: x as i128,
            suffix: Some(t),
        },
        Value::F32(x) => Lit::Float {
            f64: x as f64,
            f32: x,
            suffix: Some(t),
        },
        Value::F64(x) => Lit::Float {
            f64: x,
            f32: x as f32,
            suffix: Some(t),
        },
        Value::Bool(b) => Lit::Bool(b),
    };
    Expr::new(ExprKind::Lit(lit))
}

fn build(prim: &Prim, mut children: Vec<Expr>) -> Expr {
    let kind = match prim {
        Prim::Bin(op) => {
            let b = children.pop().expect("two children");
            let a = children.pop().expect("two children");
            ExprKind::Binary(*op, Box::new(a), Box::new(b))
        }
        Prim::Un(op) => ExprKind::Unary(*op, Box::new(children.pop().expect("one child"))),
        Prim::Call(b) => ExprKind::Call(Callee::Builtin(*b), children),
        Prim::Cast(t) => ExprKind::Cast(Box::new(children.pop().expect("one child")), *t),
        Prim::Index(name) => ExprKind::Index(
            Box::new(Expr::new(ExprKind::Var(name.clone()))),
            Box::new(children.pop().expect("one child")),
        ),
    };
    Expr::new(kind)
}

/// The type of a gene expression whose literals all carry suffixes.
pub fn infer(e: &Expr, hole: &Hole) -> Option<Scalar> {
    Some(match &e.kind {
        ExprKind::Lit(Lit::Bool(_)) => Scalar::Bool,
        ExprKind::Lit(Lit::Int { suffix, .. } | Lit::Float { suffix, .. }) => (*suffix)?,
        ExprKind::Var(n) => hole
            .scope
            .iter()
            .rev()
            .find(|(v, _)| v == n)?
            .1
            .as_scalar()?,
        ExprKind::Unary(_, x) => infer(x, hole)?,
        ExprKind::Binary(op, a, _) => {
            if op.is_comparison() {
                Scalar::Bool
            } else {
                infer(a, hole)?
            }
        }
        ExprKind::Cast(_, t) => *t,
        ExprKind::Index(s, _) => match &s.kind {
            ExprKind::Var(n) => match hole.scope.iter().find(|(v, _)| v == n)?.1 {
                Type::Slice(el) => el.scalar(),
                Type::Scalar(_) => return None,
            },
            _ => return None,
        },
        ExprKind::Call(Callee::Builtin(b), args) => match b {
            Builtin::Len => Scalar::U32,
            Builtin::F32FromBits => Scalar::F32,
            Builtin::F64FromBits => Scalar::F64,
            Builtin::F32ToBits => Scalar::U32,
            Builtin::F64ToBits => Scalar::U64,
            Builtin::Select => infer(&args[1], hole)?,
            _ => infer(&args[0], hole)?,
        },
        ExprKind::Call(Callee::Func(_), _) => return None,
    })
}

/// Per-node facts of a gene, in pre-order.
#[derive(Clone, Copy, Debug)]
pub struct NodeFact {
    /// The node's type (`None` for a slice operand, which is never replaced).
    pub ty: Option<Scalar>,
    /// Depth below the gene root (the root is 1).
    pub depth: usize,
    /// Subtree size.
    pub size: usize,
}

/// The facts of every node of a gene, in pre-order.
pub fn facts(e: &Expr, hole: &Hole) -> Vec<NodeFact> {
    fn go(e: &Expr, hole: &Hole, depth: usize, in_slice_slot: bool, out: &mut Vec<NodeFact>) {
        let at = out.len();
        out.push(NodeFact {
            ty: None,
            depth,
            size: 0,
        });
        let children = e.children();
        for (i, c) in children.iter().enumerate() {
            let slice_slot = matches!(e.kind, ExprKind::Index(..)) && i == 0
                || matches!(e.kind, ExprKind::Call(Callee::Builtin(Builtin::Len), _));
            go(c, hole, depth + 1, slice_slot, out);
        }
        out[at].size = out.len() - at;
        out[at].ty = if in_slice_slot { None } else { infer(e, hole) };
    }
    let mut out = Vec::new();
    go(e, hole, 1, false, &mut out);
    out
}

/// The `n`th node of `e` in pre-order.
pub fn nth(e: &Expr, n: usize) -> &Expr {
    fn go<'a>(e: &'a Expr, n: &mut usize) -> Option<&'a Expr> {
        if *n == 0 {
            return Some(e);
        }
        *n -= 1;
        e.children().into_iter().find_map(|c| go(c, n))
    }
    let mut k = n;
    go(e, &mut k).expect("node index within the gene")
}

/// The `n`th node of `e` in pre-order, mutably.
pub fn nth_mut(e: &mut Expr, n: usize) -> &mut Expr {
    fn go<'a>(e: &'a mut Expr, n: &mut usize) -> Option<&'a mut Expr> {
        if *n == 0 {
            return Some(e);
        }
        *n -= 1;
        e.children_mut().into_iter().find_map(|c| go(c, n))
    }
    let mut k = n;
    go(e, &mut k).expect("node index within the gene")
}

/// The mutation operators, in the order of the task's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Replace a subtree by a new random one of its type.
    Subtree,
    /// Wrap a node in a new parent of its type.
    Insertion,
    /// Replace a node by one of its descendants of the same type (hoist).
    Reduction,
    /// Replace a subtree by a leaf of its type.
    Deletion,
    /// Swap an operator, variable or builtin for another of the same signature.
    Point,
    /// Perturb a constant (Gaussian for floats, bit flip or small step for integers).
    Constant,
    /// Typed subtree crossover.
    Crossover,
    /// Copy of the parent (an operator that did not apply).
    Reproduction,
    /// From the task's seeds or the random initialisation.
    Init,
}

impl Op {
    /// Mutation operators in weight order.
    pub const MUTATIONS: [Op; 6] = [
        Op::Subtree,
        Op::Insertion,
        Op::Reduction,
        Op::Deletion,
        Op::Point,
        Op::Constant,
    ];

    /// The operator's name, as archived.
    pub fn name(self) -> &'static str {
        match self {
            Op::Subtree => "subtree",
            Op::Insertion => "insertion",
            Op::Reduction => "reduction",
            Op::Deletion => "deletion",
            Op::Point => "point",
            Op::Constant => "constant",
            Op::Crossover => "crossover",
            Op::Reproduction => "reproduction",
            Op::Init => "init",
        }
    }
}

/// A site in a genome: gene index and pre-order node index.
#[derive(Clone, Copy, Debug)]
pub struct Site {
    /// The gene.
    pub gene: usize,
    /// The node within the gene.
    pub node: usize,
}

/// Picks a node uniformly over all genes whose type passes `want`.
pub fn pick_site(
    rng: &mut ChaCha8Rng,
    genome: &Genome,
    holes: &[Hole],
    want: &dyn Fn(&Expr, &NodeFact) -> bool,
) -> Option<(Site, NodeFact)> {
    let mut sites = Vec::new();
    for (g, (e, h)) in genome.iter().zip(holes).enumerate() {
        for (i, f) in facts(e, h).into_iter().enumerate() {
            if f.ty.is_some() && want(nth(e, i), &f) {
                sites.push((Site { gene: g, node: i }, f));
            }
        }
    }
    if sites.is_empty() {
        return None;
    }
    Some(sites[rng.random_range(0..sites.len())])
}

fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Limits every offspring must respect.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Most nodes over all genes.
    pub max_size: usize,
    /// Deepest gene.
    pub max_depth: usize,
}

/// Whether a genome is within bounds.
pub fn within(genome: &Genome, bounds: Bounds) -> bool {
    genome.iter().map(Expr::size).sum::<usize>() <= bounds.max_size
        && genome.iter().all(|e| e.depth() <= bounds.max_depth)
}

/// Applies mutation `op` to a copy of `parent`; `None` if it does not apply.
pub fn mutate(
    rng: &mut ChaCha8Rng,
    op: Op,
    parent: &Genome,
    prims: &PrimitiveSet,
    holes: &[Hole],
    bounds: Bounds,
) -> Option<Genome> {
    let mut child = parent.clone();
    match op {
        Op::Subtree => {
            let (site, f) = pick_site(rng, &child, holes, &|_, _| true)?;
            let room = bounds.max_depth.saturating_sub(f.depth - 1).max(1);
            let depth = rng.random_range(1..=room.min(4));
            let full = rng.random_bool(0.5);
            let new = prims.generate(rng, f.ty?, depth, full, &holes[site.gene]);
            *nth_mut(&mut child[site.gene], site.node) = new;
        }
        Op::Insertion => {
            let (site, f) = pick_site(rng, &child, holes, &|_, _| true)?;
            let t = f.ty?;
            let hole = &holes[site.gene];
            let cands: Vec<&Prod> = prims
                .prods()
                .iter()
                .filter(|p| p.ret == t && p.args.contains(&t))
                .collect();
            if cands.is_empty() {
                return None;
            }
            let p = cands[rng.random_range(0..cands.len())];
            let slots: Vec<usize> = (0..p.args.len()).filter(|&i| p.args[i] == t).collect();
            let keep = slots[rng.random_range(0..slots.len())];
            let old = nth(&child[site.gene], site.node).clone();
            let children: Vec<Expr> = p
                .args
                .iter()
                .enumerate()
                .map(|(i, &a)| {
                    if i == keep {
                        old.clone()
                    } else {
                        prims.generate(rng, a, 2, false, hole)
                    }
                })
                .collect();
            *nth_mut(&mut child[site.gene], site.node) = build(&p.prim, children);
        }
        Op::Reduction => {
            let (site, f) = pick_site(rng, &child, holes, &|_, f| f.size > 1)?;
            let gene = &child[site.gene];
            let fs = facts(gene, &holes[site.gene]);
            let descendants: Vec<usize> = (site.node + 1..site.node + f.size)
                .filter(|&i| fs[i].ty == f.ty)
                .collect();
            if descendants.is_empty() {
                return None;
            }
            let pick = descendants[rng.random_range(0..descendants.len())];
            let sub = nth(gene, pick).clone();
            *nth_mut(&mut child[site.gene], site.node) = sub;
        }
        Op::Deletion => {
            let (site, f) = pick_site(rng, &child, holes, &|_, f| f.size > 1)?;
            let leaf = prims.terminal(rng, f.ty?, &holes[site.gene]);
            *nth_mut(&mut child[site.gene], site.node) = leaf;
        }
        Op::Point => {
            let (site, f) = pick_site(rng, &child, holes, &|_, _| true)?;
            let t = f.ty?;
            let hole = &holes[site.gene];
            let node = nth_mut(&mut child[site.gene], site.node);
            match &mut node.kind {
                ExprKind::Lit(_) => *node = prims.constant(rng, t),
                ExprKind::Var(_) => *node = prims.terminal(rng, t, hole),
                _ => {
                    let arg_tys: Vec<Option<Scalar>> =
                        node.children().iter().map(|c| infer(c, hole)).collect();
                    let cands: Vec<&Prod> = prims
                        .prods()
                        .iter()
                        .filter(|p| {
                            p.ret == t
                                && p.args.iter().map(|a| Some(*a)).eq(arg_tys.iter().copied())
                        })
                        .collect();
                    if cands.is_empty() {
                        return None;
                    }
                    let p = cands[rng.random_range(0..cands.len())];
                    let kids: Vec<Expr> = node.children().into_iter().cloned().collect();
                    if matches!(p.prim, Prim::Index(_)) {
                        return None;
                    }
                    *node = build(&p.prim, kids);
                }
            }
        }
        Op::Constant => {
            let (site, _) = pick_site(rng, &child, holes, &|e, _| {
                matches!(e.kind, ExprKind::Lit(Lit::Int { .. } | Lit::Float { .. }))
            })?;
            let node = nth_mut(&mut child[site.gene], site.node);
            if let ExprKind::Lit(lit) = &mut node.kind {
                perturb(rng, lit);
            }
        }
        Op::Crossover | Op::Reproduction | Op::Init => return None,
    }
    within(&child, bounds).then_some(child)
}

fn perturb(rng: &mut ChaCha8Rng, lit: &mut Lit) {
    match lit {
        Lit::Float {
            f64: v,
            f32: v32,
            suffix,
        } => {
            if *suffix == Some(Scalar::F32) {
                // Polynomial coefficients need steps from a few percent (after a
                // term is dropped, the next one absorbs it) down to one ulp (the
                // last bit of a max-ULP error), so the step size is log-uniform
                // over that range rather than a fixed fraction.
                let scale = (v32.abs() as f64).max(1e-3);
                let nv = if rng.random_bool(0.3) {
                    // A step of a few ulps: fine tuning of coefficients.
                    let step = rng.random_range(1..=4) * if rng.random_bool(0.5) { 1 } else { -1 };
                    let stepped = f32::from_bits(v32.to_bits().wrapping_add_signed(step));
                    if stepped.is_finite() { stepped } else { *v32 }
                } else {
                    let relative = 10f64.powf(-rng.random_range(1.0..7.0));
                    (*v32 as f64 + gaussian(rng) * relative * scale) as f32
                };
                *v32 = nv;
                *v = nv as f64;
            } else {
                let scale = v.abs().max(1e-3);
                let nv = round_sig(*v + gaussian(rng) * 0.1 * scale);
                *v = nv;
                *v32 = nv as f32;
            }
        }
        Lit::Int { value, suffix } => {
            let t = suffix.unwrap_or(Scalar::I32);
            let bits = t.bits();
            let raw = if rng.random_bool(0.5) {
                *value ^ (1i128 << rng.random_range(0..bits))
            } else {
                *value + if rng.random_bool(0.5) { 1 } else { -1 }
            };
            *value = canonical_int(t, raw);
        }
        Lit::Bool(b) => *b = !*b,
    }
}

/// `v` reduced into the literal range of `t` (unsigned: 0..2^w; signed: two's complement).
pub fn canonical_int(t: Scalar, v: i128) -> i128 {
    match int_value(t, v) {
        Value::I32(x) => x as i128,
        Value::I64(x) => x as i128,
        Value::U32(x) => x as i128,
        Value::U64(x) => x as i128,
        _ => v,
    }
}

/// Typed subtree crossover: a node of `a` is replaced by a subtree of `b` of
/// the same type whose variables are all in scope at `a`'s hole.
pub fn crossover(
    rng: &mut ChaCha8Rng,
    a: &Genome,
    b: &Genome,
    holes: &[Hole],
    bounds: Bounds,
) -> Option<Genome> {
    let (site, f) = pick_site(rng, a, holes, &|_, _| true)?;
    let t = f.ty?;
    let target = &holes[site.gene];
    let mut donors = Vec::new();
    for (g, (e, h)) in b.iter().zip(holes).enumerate() {
        for (i, df) in facts(e, h).into_iter().enumerate() {
            if df.ty == Some(t) && f.depth - 1 + subtree_depth(nth(e, i)) <= bounds.max_depth {
                donors.push((g, i));
            }
        }
    }
    if donors.is_empty() {
        return None;
    }
    for _ in 0..4 {
        let (g, i) = donors[rng.random_range(0..donors.len())];
        let sub = nth(&b[g], i);
        if vars_in_scope(sub, target) {
            let mut child = a.clone();
            *nth_mut(&mut child[site.gene], site.node) = sub.clone();
            return within(&child, bounds).then_some(child);
        }
    }
    None
}

fn subtree_depth(e: &Expr) -> usize {
    e.depth()
}

fn vars_in_scope(e: &Expr, hole: &Hole) -> bool {
    let ok = match &e.kind {
        ExprKind::Var(n) => hole.scope.iter().any(|(v, _)| v == n),
        _ => true,
    };
    ok && e.children().into_iter().all(|c| vars_in_scope(c, hole))
}

/// Ramped half-and-half: individual `i` of `n` gets depth and method from its index.
pub fn ramped(
    rng: &mut ChaCha8Rng,
    i: usize,
    prims: &PrimitiveSet,
    holes: &[Hole],
    depths: (usize, usize),
) -> Genome {
    let (lo, hi) = depths;
    let span = hi - lo + 1;
    let depth = lo + (i / 2) % span;
    let full = i.is_multiple_of(2);
    holes
        .iter()
        .map(|h| prims.generate(rng, h.ty, depth, full, h))
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::skeleton::Skeleton;
    use crate::task::PrimitiveSpec;

    fn koza() -> (Skeleton, PrimitiveSet) {
        let s = Skeleton::from_signature("fn f(x: f64) -> f64").unwrap();
        let spec = PrimitiveSpec {
            ops: ["+", "-", "*", "/", "<"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            builtins: vec!["select".into(), "sqrt".into()],
            ..PrimitiveSpec::default()
        };
        let p = PrimitiveSet::from_spec(&spec, &s).unwrap();
        (s, p)
    }

    #[test]
    fn every_operator_keeps_programs_well_typed() {
        let (s, prims) = koza();
        let bounds = Bounds {
            max_size: 60,
            max_depth: 10,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut pop: Vec<Genome> = (0..40)
            .map(|i| ramped(&mut rng, i, &prims, s.holes(), (2, 5)))
            .collect();
        let mut applied = 0;
        for round in 0..400 {
            let i = round % pop.len();
            let op = Op::MUTATIONS[round % 6];
            let child = if round % 7 == 0 {
                crossover(
                    &mut rng,
                    &pop[i],
                    &pop[(i + 1) % pop.len()],
                    s.holes(),
                    bounds,
                )
            } else {
                mutate(&mut rng, op, &pop[i], &prims, s.holes(), bounds)
            };
            if let Some(c) = child {
                applied += 1;
                let program = s.fill(&c);
                crucible_compiler::check(&program).unwrap_or_else(|d| {
                    panic!(
                        "{op:?} made an ill-typed program: {:?}\n{}",
                        d.0,
                        crucible_compiler::print(&program)
                    )
                });
                assert!(within(&c, bounds));
                pop[i] = c;
            }
        }
        assert!(applied > 300, "{applied}");
    }

    #[test]
    fn generation_is_deterministic() {
        let (s, prims) = koza();
        let a = ramped(
            &mut ChaCha8Rng::seed_from_u64(3),
            5,
            &prims,
            s.holes(),
            (2, 6),
        );
        let b = ramped(
            &mut ChaCha8Rng::seed_from_u64(3),
            5,
            &prims,
            s.holes(),
            (2, 6),
        );
        assert_eq!(a, b);
    }
}
