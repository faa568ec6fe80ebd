//! The validation rules, in Datalog. This file is the specification of what a
//! valid flow is; [`crate::analysis`] only turns a [`crate::Flow`] into the input
//! facts and reads the derived relations back.
//!
//! Nodes are numbered `0..n` in definition order; handlers are numbered by name.
//! Strongly connected components come in as facts (`scc`, `unbounded_scc`),
//! computed by Tarjan's algorithm in [`crate::graph`]: a path closure in Datalog is
//! quadratic and takes over a minute at 5,000 nodes.
#![allow(missing_docs, unreachable_pub, clippy::all)]

use ascent::aggregators::count;
use ascent::ascent;

ascent! {
    pub(crate) struct FlowRules;

    // ---- Input facts -------------------------------------------------------
    relation node(u32);
    relation start(u32);
    relation end(u32);
    relation fork(u32);
    relation join(u32);
    relation decision(u32);
    /// `edge(from, to)`, only between defined nodes.
    relation edge(u32, u32);
    /// `default_edge(decision, to)`: the edge flagged `default`.
    relation default_edge(u32, u32);
    /// `scc(node, component)` over the whole graph.
    relation scc(u32, u32);
    /// `unbounded_scc(node, component)` over the graph with every loop-bounded node removed.
    relation unbounded_scc(u32, u32);
    /// `uses_handler(node, handler)`.
    relation uses_handler(u32, u32);
    /// `registered(handler)`: the executor knows the handler.
    relation registered(u32);

    // ---- Reachability ------------------------------------------------------
    /// Every node the start node can reach.
    relation reachable(u32);
    reachable(s) <-- start(s);
    reachable(y) <-- reachable(x), edge(x, y);

    relation unreachable(u32);
    unreachable(n) <-- node(n), !reachable(n);

    /// Every node from which some end node can be reached.
    relation reaches_end(u32);
    reaches_end(e) <-- end(e);
    reaches_end(x) <-- edge(x, y), reaches_end(y);

    relation cannot_reach_end(u32);
    cannot_reach_end(n) <-- node(n), !reaches_end(n);

    // ---- Cycles and termination -------------------------------------------
    /// `on_cycle(node, component)`: an edge inside a component closes a cycle.
    relation on_cycle(u32, u32);
    on_cycle(x, c) <-- edge(x, y), scc(x, c), scc(y, c);

    /// A cycle that avoids every loop-bounded node may run forever: the flow
    /// terminates iff this relation is empty (a DAG, or every cycle is bounded).
    relation unbounded_cycle(u32, u32);
    unbounded_cycle(x, c) <-- edge(x, y), unbounded_scc(x, c), unbounded_scc(y, c);

    // ---- Decisions ---------------------------------------------------------
    relation has_default(u32);
    has_default(d) <-- default_edge(d, _);

    relation missing_default(u32);
    missing_default(d) <-- decision(d), !has_default(d);

    // ---- Branching ---------------------------------------------------------
    /// Only forks and decisions may have more than one outgoing edge.
    relation fanout(u32, usize);
    fanout(x, n) <-- node(x), !fork(x), !decision(x), agg n = count() in edge(x, _);

    relation illegal_fanout(u32, usize);
    illegal_fanout(x, n) <-- fanout(x, n), if *n > 1;

    relation start_incoming(u32, u32);
    start_incoming(s, x) <-- start(s), edge(x, s);

    relation end_outgoing(u32, u32);
    end_outgoing(e, y) <-- end(e), edge(e, y);

    // ---- Fork / join matching ---------------------------------------------
    /// `branch(fork, head)`: each outgoing edge of a fork starts a branch.
    relation branch(u32, u32);
    branch(f, b) <-- fork(f), edge(f, b);

    /// `in_branch(fork, head, x)`: x lies on the branch before any join. A nested
    /// fork's block is stepped over: the walk resumes after the nested fork's join.
    relation in_branch(u32, u32, u32);
    /// `closes(fork, head, join)`: the branch ends at that join.
    relation closes(u32, u32, u32);

    in_branch(f, b, b) <-- branch(f, b), !join(b);
    closes(f, j, j) <-- branch(f, j), join(j);

    in_branch(f, b, y) <-- in_branch(f, b, x), !fork(x), edge(x, y), !join(y);
    closes(f, b, j) <-- in_branch(f, b, x), !fork(x), edge(x, j), join(j);

    in_branch(f, b, y) <-- in_branch(f, b, x), fork(x), closes(x, _, j), edge(j, y), !join(y);
    closes(f, b, k) <-- in_branch(f, b, x), fork(x), closes(x, _, j), edge(j, k), join(k);

    relation joins_of(u32, u32);
    joins_of(f, j) <-- closes(f, _, j);

    relation closed_branch(u32, u32);
    closed_branch(f, b) <-- closes(f, b, _);

    /// A branch that never reaches a join (it ends, or wanders off).
    relation open_branch(u32, u32);
    open_branch(f, b) <-- branch(f, b), !closed_branch(f, b);

    relation has_join(u32);
    has_join(f) <-- joins_of(f, _);

    relation fork_without_join(u32);
    fork_without_join(f) <-- fork(f), !has_join(f);

    relation join_count(u32, usize);
    join_count(f, n) <-- fork(f), agg n = count() in joins_of(f, _);

    /// Branches of one fork that end at different joins.
    relation ambiguous_join(u32, u32);
    ambiguous_join(f, j) <-- join_count(f, n), if *n > 1, joins_of(f, j);

    /// `matched(fork, join)`: the fork's unique join.
    relation matched(u32, u32);
    matched(f, j) <-- join_count(f, n), if *n == 1, joins_of(f, j);

    relation claimed(u32);
    claimed(j) <-- joins_of(_, j);

    relation join_without_fork(u32);
    join_without_fork(j) <-- join(j), !claimed(j);

    relation claim_count(u32, usize);
    claim_count(j, n) <-- join(j), agg n = count() in joins_of(_, j);

    /// A join that closes the branches of more than one fork.
    relation shared_join(u32, u32);
    shared_join(j, f) <-- claim_count(j, n), if *n > 1, joins_of(f, j);

    /// `branch_count(fork, n)`: how many branches a fork starts (its join waits for n).
    relation branch_count(u32, usize);
    branch_count(f, n) <-- fork(f), agg n = count() in branch(f, _);

    // ---- Handlers ----------------------------------------------------------
    relation unregistered(u32, u32);
    unregistered(n, h) <-- uses_handler(n, h), !registered(h);
}
