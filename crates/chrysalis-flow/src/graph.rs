//! A compact adjacency graph over node indices and Tarjan's strongly connected
//! components, computed outside Datalog in linear time and fed to the rules as facts.

/// Successor lists in compressed sparse row form.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Graph {
    /// Builds the graph of `node_count` nodes from `(from, to)` pairs (all `< node_count`).
    pub(crate) fn new(node_count: usize, edges: &[(u32, u32)]) -> Self {
        let mut offsets = vec![0u32; node_count + 1];
        for &(from, _) in edges {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..node_count {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; edges.len()];
        for &(from, to) in edges {
            let slot = &mut fill[from as usize];
            targets[*slot as usize] = to;
            *slot += 1;
        }
        Self { offsets, targets }
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Successors of `node`.
    pub(crate) fn successors(&self, node: u32) -> &[u32] {
        let start = self.offsets[node as usize] as usize;
        let end = self.offsets[node as usize + 1] as usize;
        &self.targets[start..end]
    }
}

/// Marks a node left out of the component computation.
pub(crate) const NO_COMPONENT: u32 = u32::MAX;

/// Strongly connected components of the subgraph induced by the nodes where
/// `included` holds: returns a component id per node (`NO_COMPONENT` for excluded
/// nodes). Iterative Tarjan, so a million-edge chain cannot overflow the stack.
pub(crate) fn strongly_connected(graph: &Graph, included: &[bool]) -> Vec<u32> {
    const UNVISITED: u32 = u32::MAX;
    let n = graph.len();
    let mut index = vec![UNVISITED; n];
    let mut lowlink = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![NO_COMPONENT; n];
    let mut stack: Vec<u32> = Vec::new();
    // Call stack of (node, next successor position).
    let mut calls: Vec<(u32, usize)> = Vec::new();
    let mut next_index = 0u32;
    let mut next_component = 0u32;

    for root in 0..n as u32 {
        if !included[root as usize] || index[root as usize] != UNVISITED {
            continue;
        }
        calls.push((root, 0));
        index[root as usize] = next_index;
        lowlink[root as usize] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root as usize] = true;

        while let Some(&mut (node, ref mut pos)) = calls.last_mut() {
            let succ = graph.successors(node);
            if let Some(&next) = succ.get(*pos) {
                *pos += 1;
                let v = next as usize;
                if !included[v] {
                    continue;
                }
                if index[v] == UNVISITED {
                    index[v] = next_index;
                    lowlink[v] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[v] = true;
                    calls.push((next, 0));
                } else if on_stack[v] {
                    lowlink[node as usize] = lowlink[node as usize].min(index[v]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                lowlink[parent as usize] = lowlink[parent as usize].min(lowlink[node as usize]);
            }
            if lowlink[node as usize] == index[node as usize] {
                while let Some(member) = stack.pop() {
                    on_stack[member as usize] = false;
                    component[member as usize] = next_component;
                    if member == node {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cycles_and_a_tail() {
        // 0 -> 1 -> 0, 1 -> 2, 2 -> 3 -> 2, 3 -> 4
        let g = Graph::new(5, &[(0, 1), (1, 0), (1, 2), (2, 3), (3, 2), (3, 4)]);
        let c = strongly_connected(&g, &[true; 5]);
        assert_eq!(c[0], c[1]);
        assert_eq!(c[2], c[3]);
        assert_ne!(c[0], c[2]);
        assert_ne!(c[4], c[2]);
        let excluded = strongly_connected(&g, &[true, false, true, true, true]);
        assert_eq!(excluded[1], NO_COMPONENT);
        assert_ne!(excluded[0], excluded[2]);
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let n = 200_000u32;
        let edges: Vec<_> = (0..n - 1).map(|i| (i, i + 1)).chain([(n - 1, 0)]).collect();
        let g = Graph::new(n as usize, &edges);
        let c = strongly_connected(&g, &vec![true; n as usize]);
        assert!(c.iter().all(|&x| x == c[0]));
    }
}
