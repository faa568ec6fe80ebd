//! Table-driven tests: one small flow per diagnostic, with the exact report text.

use std::collections::BTreeSet;

use super::validate;
use crate::diagnostic::Code;
use crate::model::{Flow, Kind, RetryPolicy};

/// Builds a flow from a compact notation. Nodes: `name:kind[:handler][*bound]`;
/// edges: `from>to`, `from>to?condition`, `from>to!` (default).
fn flow(nodes: &str, edges: &str) -> Flow {
    let mut flow = Flow::new("t");
    for spec in nodes.split_whitespace() {
        let (spec, bound) = match spec.split_once('*') {
            Some((s, b)) => (s, Some(b.parse().unwrap())),
            None => (spec, None),
        };
        let mut parts = spec.split(':');
        let name = parts.next().unwrap();
        let kind = match parts.next().unwrap() {
            "start" => Kind::Start,
            "end" => Kind::End,
            "task" => Kind::Task,
            "decision" => Kind::Decision,
            "fork" => Kind::Fork,
            "join" => Kind::Join,
            other => panic!("kind {other}"),
        };
        let node = flow.add_node(name, kind, parts.next().unwrap_or("noop"));
        if let Some(bound) = bound {
            node.max_iterations(bound);
        }
    }
    for spec in edges.split_whitespace() {
        let (from, rest) = spec.split_once('>').unwrap();
        if let Some(to) = rest.strip_suffix('!') {
            flow.add_edge(from, to).default_branch();
        } else if let Some((to, cond)) = rest.split_once('?') {
            flow.add_edge(from, to).when(cond);
        } else {
            flow.add_edge(from, rest);
        }
    }
    flow
}

struct Case {
    code: Option<Code>,
    nodes: &'static str,
    edges: &'static str,
    tweak: fn(&mut Flow),
    expected: &'static str,
}

const fn case(
    code: Option<Code>,
    nodes: &'static str,
    edges: &'static str,
    expected: &'static str,
) -> Case {
    Case {
        code,
        nodes,
        edges,
        tweak: |_| {},
        expected,
    }
}

const CASES: &[Case] = &[
    case(None, "s:start a:task e:end", "s>a a>e", ""),
    case(
        None,
        "s:start a:task*3 d:decision e:end",
        "s>a a>d d>a?again d>e!",
        "",
    ),
    case(
        None,
        "s:start f:fork g:fork a:task b:task j:join c:task k:join e:end",
        "s>f f>g f>c g>a g>b a>j b>j j>k c>k k>e",
        "",
    ),
    case(
        Some(Code::DuplicateNode),
        "s:start a:task a:task a:task e:end",
        "s>a a>e",
        "error[duplicate-node]: node \"a\" is defined more than once\n",
    ),
    case(
        Some(Code::UnknownNode),
        "s:start e:end",
        "s>e s>x y>z",
        "error[unknown-node]: edge \"s\" -> \"x\" names unknown node \"x\"\n\
         error[unknown-node]: edge \"y\" -> \"z\" names unknown nodes \"y\", \"z\"\n",
    ),
    case(
        Some(Code::NoStart),
        "a:task e:end",
        "a>e",
        "error[no-start]: flow has no start node\n",
    ),
    case(
        Some(Code::ManyStarts),
        "s:start t:start e:end",
        "s>e t>e",
        "error[many-starts]: flow has 2 start nodes: \"s\", \"t\"\n",
    ),
    case(
        Some(Code::NoEnd),
        "s:start a:task",
        "s>a",
        "error[no-end]: flow has no end node\n",
    ),
    case(
        Some(Code::StartIncoming),
        "s:start d:decision e:end",
        "s>d d>s?again d>e!",
        "error[start-incoming]: start node \"s\" has incoming edges from \"d\"\n\
         error[unbounded-cycle]: cycle through \"s\", \"d\" passes no node with max_iterations, so it may never end\n",
    ),
    case(
        Some(Code::EndOutgoing),
        "s:start e:end a:task f:end",
        "s>e e>a a>f",
        "error[end-outgoing]: end node \"e\" has outgoing edges to \"a\"\n",
    ),
    case(
        Some(Code::Unreachable),
        "s:start e:end x:task",
        "s>e x>e",
        "warning[unreachable]: node \"x\" is not reachable from the start node\n",
    ),
    case(
        Some(Code::NoPathToEnd),
        "s:start d:decision a:task e:end",
        "s>d d>e! d>a?stuck",
        "error[no-path-to-end]: node \"a\" cannot reach an end node\n",
    ),
    case(
        Some(Code::UnboundedCycle),
        "s:start a:task d:decision e:end",
        "s>a a>d d>a?again d>e!",
        "error[unbounded-cycle]: cycle through \"a\", \"d\" passes no node with max_iterations, so it may never end\n",
    ),
    case(
        Some(Code::Fanout),
        "s:start a:task b:task e:end",
        "s>a a>b a>e b>e",
        "error[fanout]: task \"a\" has 2 outgoing edges; only forks and decisions may branch\n",
    ),
    case(
        Some(Code::ForkWithoutJoin),
        "s:start f:fork a:task b:task e:end",
        "s>f f>a f>b a>e b>e",
        "error[fork-without-join]: fork \"f\" has no matching join\n",
    ),
    case(
        Some(Code::OpenBranch),
        "s:start f:fork a:task b:task j:join e:end x:end",
        "s>f f>a f>b a>j b>x j>e",
        "error[open-branch]: branch \"b\" of fork \"f\" never reaches a join\n",
    ),
    case(
        Some(Code::AmbiguousJoin),
        "s:start f:fork a:task b:task j:join k:join e:end",
        "s>f f>a f>b a>j b>k j>e k>e",
        "error[ambiguous-join]: branches of fork \"f\" end at different joins: \"j\", \"k\"\n",
    ),
    case(
        Some(Code::JoinWithoutFork),
        "s:start j:join e:end",
        "s>j j>e",
        "error[join-without-fork]: join \"j\" closes no fork\n",
    ),
    case(
        Some(Code::SharedJoin),
        "s:start d:decision f:fork g:fork a:task b:task c:task h:task j:join e:end",
        "s>d d>f?x d>g! f>a f>b g>c g>h a>j b>j c>j h>j j>e",
        "error[shared-join]: join \"j\" closes more than one fork: \"f\", \"g\"\n",
    ),
    case(
        Some(Code::MissingDefault),
        "s:start d:decision a:task e:end",
        "s>d d>a?yes d>e?no a>e",
        "error[missing-default]: decision \"d\" has no default edge\n",
    ),
    case(
        Some(Code::ManyDefaults),
        "s:start d:decision a:task e:end",
        "s>d d>a! d>e! a>e",
        "error[many-defaults]: decision \"d\" has 2 default edges: to \"a\", \"e\"\n",
    ),
    case(
        Some(Code::UnlabelledBranch),
        "s:start d:decision e:end a:task",
        "s>d d>e! d>a a>e",
        "error[unlabelled-branch]: edge \"d\" -> \"a\" leaves a decision without a condition or default flag\n",
    ),
    case(
        Some(Code::StrayCondition),
        "s:start e:end",
        "s>e?yes",
        "warning[stray-condition]: edge \"s\" -> \"e\" has a condition or default flag but \"s\" is not a decision\n",
    ),
    Case {
        code: Some(Code::NoAttempts),
        nodes: "s:start a:task e:end",
        edges: "s>a a>e",
        tweak: |f| {
            f.nodes[1].retry(RetryPolicy::new(0, 5));
        },
        expected: "error[no-attempts]: node \"a\" has a retry policy with max_attempts = 0\n",
    },
    case(
        Some(Code::UnregisteredHandler),
        "s:start a:task:missing e:end",
        "s>a a>e",
        "error[unregistered-handler]: node \"a\" uses handler \"missing\", which is not registered\n",
    ),
];

#[test]
fn every_diagnostic_has_its_exact_message() {
    for case in CASES {
        let mut f = flow(case.nodes, case.edges);
        (case.tweak)(&mut f);
        let report = validate(&f, &["noop"]);
        assert_eq!(report.to_string(), case.expected, "case {:?}", case.code);
        assert_eq!(
            report.has_errors(),
            case.expected.contains("error["),
            "{:?}",
            case.code
        );
        if let Some(code) = case.code {
            assert!(
                report.diagnostics().iter().any(|d| d.code == code),
                "{code:?}"
            );
        }
    }
}

#[test]
fn table_covers_every_code() {
    let covered: BTreeSet<Code> = CASES.iter().filter_map(|c| c.code).collect();
    let all: BTreeSet<Code> = Code::ALL.iter().copied().collect();
    assert_eq!(covered, all);
}

#[test]
fn diagnostics_name_their_nodes() {
    let report = validate(
        &flow(
            "s:start f:fork a:task b:task j:join e:end x:end",
            "s>f f>a f>b a>j b>x j>e",
        ),
        &["noop"],
    );
    let names: Vec<&str> = report.diagnostics()[0]
        .nodes
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(names, ["b", "f"]);
    assert_eq!(report.summary(), "1 error, 0 warnings");
}

#[test]
fn every_problem_is_reported_at_once() {
    let f = flow(
        "s:start a:task:ghost b:task d:decision x:task",
        "s>a a>b a>d d>b?y b>q",
    );
    let report = validate(&f, &["noop"]);
    let codes: BTreeSet<&str> = report
        .diagnostics()
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        "unknown-node",
        "no-end",
        "unreachable",
        "fanout",
        "missing-default",
        "unregistered-handler",
    ]
    .into_iter()
    .collect();
    assert_eq!(codes, expected, "{report}");
    assert_eq!(report.summary(), "5 errors, 1 warning");
}

const EXAMPLES: &[(&str, &str, crate::Format)] = &[
    (
        "order.toml",
        include_str!("../../../../examples/flows/order.toml"),
        crate::Format::Toml,
    ),
    (
        "review.yaml",
        include_str!("../../../../examples/flows/review.yaml"),
        crate::Format::Yaml,
    ),
    (
        "fails.json",
        include_str!("../../../../examples/flows/fails.json"),
        crate::Format::Json,
    ),
    (
        "broken.toml",
        include_str!("../../../../examples/flows/broken.toml"),
        crate::Format::Toml,
    ),
    (
        "empty.json",
        include_str!("../../../../examples/flows/empty.json"),
        crate::Format::Json,
    ),
];

const BUILTINS: &[&str] = &["noop", "log", "sleep", "fail", "flaky", "choose"];

#[test]
fn example_flows_validate_as_documented() {
    let mut codes = BTreeSet::new();
    for (name, text, format) in EXAMPLES {
        let flow = crate::load(text, *format).unwrap();
        let report = validate(&flow, BUILTINS);
        let broken = matches!(*name, "broken.toml" | "empty.json");
        assert_eq!(report.has_errors(), broken, "{name}:\n{report}");
        codes.extend(report.diagnostics().iter().map(|d| d.code));
    }
    let all: BTreeSet<Code> = Code::ALL.iter().copied().collect();
    assert_eq!(codes, all, "the broken examples show every diagnostic");
}

#[test]
fn broken_example_report_is_stable() {
    let flow = crate::load(EXAMPLES[3].1, crate::Format::Toml).unwrap();
    let report = validate(&flow, BUILTINS);
    let expected = "\
error[duplicate-node]: node \"left\" is defined more than once
error[unknown-node]: edge \"right\" -> \"nowhere\" names unknown node \"nowhere\"
error[many-starts]: flow has 2 start nodes: \"begin\", \"also_begin\"
error[start-incoming]: start node \"begin\" has incoming edges from \"check\"
error[end-outgoing]: end node \"done\" has outgoing edges to \"cleanup\"
error[no-path-to-end]: node \"stuck\" cannot reach an end node
error[unbounded-cycle]: cycle through \"begin\", \"check\" passes no node with max_iterations, so it may never end
error[fanout]: task \"audit\" has 2 outgoing edges; only forks and decisions may branch
error[fork-without-join]: fork \"scatter\" has no matching join
error[open-branch]: branch \"f2\" of fork \"fan\" never reaches a join
error[ambiguous-join]: branches of fork \"split\" end at different joins: \"merge\", \"merge2\"
error[join-without-fork]: join \"lonely\" closes no fork
error[shared-join]: join \"shared\" closes more than one fork: \"g1\", \"g2\"
error[missing-default]: decision \"check\" has no default edge
error[many-defaults]: decision \"route\" has 2 default edges: to \"done\", \"finish\"
error[unlabelled-branch]: edge \"check\" -> \"audit\" leaves a decision without a condition or default flag
error[no-attempts]: node \"left\" has a retry policy with max_attempts = 0
error[unregistered-handler]: node \"pack\" uses handler \"shrink-wrap\", which is not registered
warning[unreachable]: node \"orphan\" is not reachable from the start node
warning[unreachable]: node \"lonely\" is not reachable from the start node
warning[stray-condition]: edge \"pack\" -> \"split\" has a condition or default flag but \"pack\" is not a decision
";
    assert_eq!(report.to_string(), expected);
}
