"""DEAP on koza-quartic, the peer figure for benches/tier0.rs.

Prints one JSON object: candidates evaluated per second for the classic
setting (population 1,000, 20 cases, 40 generations, one core) and node
evaluations per second with numpy at 10,000 cases.
"""
import json
import math
import operator
import random
import sys
import time

import numpy
from deap import algorithms, base, creator, gp, tools


def protected_div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        return 1.0


def np_div(a, b):
    with numpy.errstate(divide="ignore", invalid="ignore"):
        return numpy.where(b != 0, a / numpy.where(b != 0, b, 1), 1.0)


def run(n_cases, generations, vectorised, seed):
    random.seed(seed)
    pset = gp.PrimitiveSet("MAIN", 1)
    pset.addPrimitive(numpy.add if vectorised else operator.add, 2, name="add")
    pset.addPrimitive(numpy.subtract if vectorised else operator.sub, 2, name="sub")
    pset.addPrimitive(numpy.multiply if vectorised else operator.mul, 2, name="mul")
    pset.addPrimitive(np_div if vectorised else protected_div, 2, name="div")
    pset.addPrimitive(numpy.negative if vectorised else operator.neg, 1, name="neg")
    pset.addEphemeralConstant("c%d_%d" % (n_cases, seed), lambda: random.randint(-1, 1))
    pset.renameArguments(ARG0="x")
    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
        creator.create("Individual", gp.PrimitiveTree, fitness=creator.FitnessMin)
    toolbox = base.Toolbox()
    toolbox.register("expr", gp.genHalfAndHalf, pset=pset, min_=1, max_=2)
    toolbox.register("individual", tools.initIterate, creator.Individual, toolbox.expr)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("compile", gp.compile, pset=pset)
    xs = [-1.0 + 2.0 * i / (n_cases - 1) for i in range(n_cases)]
    ys = [x**4 + x**3 + x**2 + x for x in xs]
    xs_np = numpy.array(xs)
    ys_np = numpy.array(ys)
    stats = {"evals": 0, "nodes": 0}

    def evaluate(ind):
        f = toolbox.compile(expr=ind)
        stats["evals"] += 1
        stats["nodes"] += len(ind) * n_cases
        if vectorised:
            out = f(xs_np)
            err = numpy.sum(numpy.abs(numpy.broadcast_to(out, ys_np.shape) - ys_np))
            return (float(err) if math.isfinite(err) else 1e300,)
        total = 0.0
        for x, y in zip(xs, ys):
            try:
                total += abs(f(x) - y)
            except OverflowError:
                total = 1e300
        return (total,)

    toolbox.register("evaluate", evaluate)
    toolbox.register("select", tools.selTournament, tournsize=3)
    toolbox.register("mate", gp.cxOnePoint)
    toolbox.register("expr_mut", gp.genFull, min_=0, max_=2)
    toolbox.register("mutate", gp.mutUniform, expr=toolbox.expr_mut, pset=pset)
    toolbox.decorate("mate", gp.staticLimit(key=operator.attrgetter("height"), max_value=17))
    toolbox.decorate("mutate", gp.staticLimit(key=operator.attrgetter("height"), max_value=17))
    pop = toolbox.population(n=1000)
    start = time.process_time()
    algorithms.eaSimple(pop, toolbox, 0.5, 0.1, generations, verbose=False)
    elapsed = time.process_time() - start
    return stats["evals"] / elapsed, stats["nodes"] / elapsed


def main():
    cands, _ = run(20, 40, False, 1)
    _, nodes = run(10000, 3, True, 1)
    print(json.dumps({"candidates_per_s_20_cases": cands, "node_evals_per_s_10000_cases": nodes}))


if __name__ == "__main__":
    sys.exit(main())
