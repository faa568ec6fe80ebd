//! Differential tests: the Datalog rules against independent plain graph
//! algorithms (breadth-first search, a reachability matrix for cycles, a naive
//! fixpoint for fork/join matching) on thousands of random graphs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;

use super::{Analysis, Facts};
use crate::model::Kind;

fn successors(n: usize, edges: &[(u32, u32)]) -> Vec<BTreeSet<u32>> {
    let mut succ = vec![BTreeSet::new(); n];
    for &(a, b) in edges {
        succ[a as usize].insert(b);
    }
    succ
}

/// Breadth-first search from `roots`, walking only through `allowed` nodes.
fn bfs(
    succ: &[BTreeSet<u32>],
    roots: impl IntoIterator<Item = u32>,
    allowed: &[bool],
) -> Vec<bool> {
    let mut seen = vec![false; succ.len()];
    let mut queue: VecDeque<u32> = VecDeque::new();
    for r in roots {
        if allowed[r as usize] && !seen[r as usize] {
            seen[r as usize] = true;
            queue.push_back(r);
        }
    }
    while let Some(x) = queue.pop_front() {
        for &y in &succ[x as usize] {
            if allowed[y as usize] && !seen[y as usize] {
                seen[y as usize] = true;
                queue.push_back(y);
            }
        }
    }
    seen
}

fn indices(flags: &[bool]) -> Vec<u32> {
    (0..flags.len() as u32)
        .filter(|&i| flags[i as usize])
        .collect()
}

/// Nodes on a cycle within `allowed`, grouped by mutual reachability.
fn cycle_groups(succ: &[BTreeSet<u32>], allowed: &[bool]) -> Vec<Vec<u32>> {
    let n = succ.len();
    // reach[x][y]: y reachable from x by at least one edge, inside `allowed`.
    let reach: Vec<Vec<bool>> = (0..n)
        .map(|x| {
            if !allowed[x] {
                return vec![false; n];
            }
            let next = succ[x].iter().copied().filter(|&y| allowed[y as usize]);
            bfs(succ, next, allowed)
        })
        .collect();
    let mut groups: BTreeSet<Vec<u32>> = BTreeSet::new();
    for x in 0..n {
        if reach[x][x] {
            let group: Vec<u32> = (0..n)
                .filter(|&y| reach[y][y] && reach[x][y] && reach[y][x])
                .map(|y| y as u32)
                .collect();
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

/// Fork/join matching by naive fixpoint iteration over depth-first walks.
fn fork_closes(
    facts: &Facts,
    succ: &[BTreeSet<u32>],
) -> BTreeMap<u32, BTreeMap<u32, BTreeSet<u32>>> {
    let kinds = &facts.kinds;
    let is = |x: u32, k: Kind| kinds[x as usize] == k;
    let forks: Vec<u32> = (0..kinds.len() as u32)
        .filter(|&x| is(x, Kind::Fork))
        .collect();
    let mut closes: BTreeMap<u32, BTreeMap<u32, BTreeSet<u32>>> = BTreeMap::new();
    loop {
        let before = closes.clone();
        for &f in &forks {
            for &b in &succ[f as usize] {
                let mut found = BTreeSet::new();
                let mut seen = BTreeSet::new();
                let mut stack = vec![b];
                while let Some(x) = stack.pop() {
                    if is(x, Kind::Join) {
                        found.insert(x);
                        continue;
                    }
                    if !seen.insert(x) {
                        continue;
                    }
                    if is(x, Kind::Fork) {
                        let inner_joins: BTreeSet<u32> = before
                            .get(&x)
                            .map(|m| m.values().flatten().copied().collect())
                            .unwrap_or_default();
                        for j in inner_joins {
                            stack.extend(succ[j as usize].iter().copied());
                        }
                    } else {
                        stack.extend(succ[x as usize].iter().copied());
                    }
                }
                closes.entry(f).or_default().insert(b, found);
            }
        }
        if closes == before {
            return closes;
        }
    }
}

fn reference(facts: &Facts) -> Analysis {
    let n = facts.kinds.len();
    let succ = successors(n, &facts.edges);
    let mut pred = vec![BTreeSet::new(); n];
    for &(a, b) in &facts.edges {
        pred[b as usize].insert(a);
    }
    let all = vec![true; n];
    let of_kind = |k: Kind| (0..n as u32).filter(move |&x| facts.kinds[x as usize] == k);
    let reachable = bfs(&succ, of_kind(Kind::Start), &all);
    let reaches_end = bfs(&pred, of_kind(Kind::End), &all);
    let unbounded: Vec<bool> = facts.bounded.iter().map(|b| !b).collect();
    let defaults: BTreeSet<u32> = facts.default_edges.iter().map(|&(d, _)| d).collect();
    let branching = |x: u32| matches!(facts.kinds[x as usize], Kind::Fork | Kind::Decision);

    let closes = fork_closes(facts, &succ);
    let mut a = Analysis {
        reachable: indices(&reachable),
        unreachable: indices(&reachable.iter().map(|r| !r).collect::<Vec<_>>()),
        cannot_reach_end: indices(&reaches_end.iter().map(|r| !r).collect::<Vec<_>>()),
        cycles: cycle_groups(&succ, &all),
        unbounded_cycles: cycle_groups(&succ, &unbounded),
        missing_default: of_kind(Kind::Decision)
            .filter(|d| !defaults.contains(d))
            .collect(),
        illegal_fanout: (0..n as u32)
            .filter(|&x| !branching(x) && succ[x as usize].len() > 1)
            .map(|x| (x, succ[x as usize].len()))
            .collect(),
        start_incoming: of_kind(Kind::Start)
            .filter(|&s| !pred[s as usize].is_empty())
            .map(|s| (s, pred[s as usize].iter().copied().collect()))
            .collect(),
        end_outgoing: of_kind(Kind::End)
            .filter(|&e| !succ[e as usize].is_empty())
            .map(|e| (e, succ[e as usize].iter().copied().collect()))
            .collect(),
        unregistered: (0..n as u32)
            .filter(|&x| !facts.registered[facts.handler_of[x as usize] as usize])
            .collect(),
        ..Analysis::default()
    };
    let mut claims: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for f in of_kind(Kind::Fork) {
        let branches = closes.get(&f).cloned().unwrap_or_default();
        let joins: BTreeSet<u32> = branches.values().flatten().copied().collect();
        a.branch_counts.push((f, succ[f as usize].len()));
        for (&b, found) in &branches {
            if found.is_empty() {
                a.open_branches.push((f, b));
            }
        }
        match joins.len() {
            0 => a.fork_without_join.push(f),
            1 => a.matched.extend(joins.iter().map(|&j| (f, j))),
            _ => a.ambiguous_joins.push((f, joins.iter().copied().collect())),
        }
        for j in joins {
            claims.entry(j).or_default().insert(f);
        }
    }
    a.join_without_fork = of_kind(Kind::Join)
        .filter(|j| !claims.contains_key(j))
        .collect();
    a.shared_joins = claims
        .into_iter()
        .filter(|(_, forks)| forks.len() > 1)
        .map(|(j, forks)| (j, forks.into_iter().collect()))
        .collect();
    a
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![
        1 => Just(Kind::Start),
        1 => Just(Kind::End),
        4 => Just(Kind::Task),
        1 => Just(Kind::Decision),
        2 => Just(Kind::Fork),
        2 => Just(Kind::Join),
    ]
}

prop_compose! {
    fn random_facts()(n in 1usize..20)
        (kinds in proptest::collection::vec(kind_strategy(), n),
         edges in proptest::collection::vec((0..n as u32, 0..n as u32, any::<bool>()), 0..3 * n),
         bounded in proptest::collection::vec(proptest::bool::weighted(0.15), n),
         handler_of in proptest::collection::vec(0u32..3, n),
         registered in proptest::collection::vec(proptest::bool::weighted(0.8), 3))
        -> Facts
    {
        let default_edges = edges
            .iter()
            .filter(|&&(a, _, d)| d && kinds[a as usize] == Kind::Decision)
            .map(|&(a, b, _)| (a, b))
            .collect();
        let edges = edges.iter().map(|&(a, b, _)| (a, b)).collect();
        Facts { kinds, edges, default_edges, bounded, handler_of, registered }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn datalog_equals_graph_algorithms(facts in random_facts()) {
        prop_assert_eq!(facts.analyze(), reference(&facts));
    }
}

#[test]
fn nested_fork_is_stepped_over() {
    // 0 start -> 1 fork -> {2 fork -> {3, 4} -> 5 join, 6} -> 7 join -> 8 end
    let kinds = vec![
        Kind::Start,
        Kind::Fork,
        Kind::Fork,
        Kind::Task,
        Kind::Task,
        Kind::Join,
        Kind::Task,
        Kind::Join,
        Kind::End,
    ];
    let edges = vec![
        (0, 1),
        (1, 2),
        (1, 6),
        (2, 3),
        (2, 4),
        (3, 5),
        (4, 5),
        (5, 7),
        (6, 7),
        (7, 8),
    ];
    let facts = Facts {
        bounded: vec![false; kinds.len()],
        handler_of: vec![0; kinds.len()],
        registered: vec![true],
        kinds,
        edges,
        default_edges: vec![],
    };
    let a = facts.analyze();
    assert_eq!(a.matched, vec![(1, 7), (2, 5)]);
    assert!(a.open_branches.is_empty());
    assert!(a.join_without_fork.is_empty());
    assert_eq!(a, reference(&facts));
}
