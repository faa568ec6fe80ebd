//! `chrysalis.verify_operad_laws`: the Rust law checker from Python.

use chrysalis_operad::faulty::{BreadthFirstSlots, WrappedIdentity};
use chrysalis_operad::{
    LawCheckConfig, LawCheckError, LawReport, OperadSamples, Plan, PlanOperad, check_laws,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::{OperadLawError, with_attrs};

/// A deterministic RNG for sampling: SplitMix64 over the caller's seed, so a
/// seed printed by a failing run replays exactly.
struct SplitMix64(u64);

impl rand_core::RngCore for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

fn run<O: OperadSamples<Op = Plan>>(
    operad: &O,
    seed: u64,
    config: LawCheckConfig,
) -> Result<LawReport, LawCheckError<Plan>> {
    check_laws(operad, &mut SplitMix64(seed), config)
}

/// Checks identity and associativity of an operad of agent plans over
/// `samples` generated samples (seeded by `seed`, each operation at most
/// `max_nodes` nodes). `operad` is `"plan"` (the real operad) or one of the
/// deliberately broken fixtures `"faulty-identity"` and `"faulty-slots"`.
///
/// Returns `{"samples": int, "instances": int}`; raises `OperadLawError`
/// with a shrunk counterexample when a law fails.
#[pyfunction]
#[pyo3(signature = (samples = 256, seed = 0, max_nodes = 12, operad = "plan"))]
fn verify_operad_laws<'py>(
    py: Python<'py>,
    samples: usize,
    seed: u64,
    max_nodes: usize,
    operad: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let config = LawCheckConfig {
        samples,
        max_nodes,
        ..LawCheckConfig::default()
    };
    let outcome = py.detach(|| match operad {
        "plan" => Some(run(&PlanOperad::new(), seed, config)),
        "faulty-identity" => Some(run(&WrappedIdentity::new(), seed, config)),
        "faulty-slots" => Some(run(&BreadthFirstSlots::new(), seed, config)),
        _ => None,
    });
    let Some(outcome) = outcome else {
        return Err(PyValueError::new_err(format!(
            "unknown operad {operad:?}; expected \"plan\", \"faulty-identity\" or \"faulty-slots\""
        )));
    };
    match outcome {
        Ok(report) => {
            let dict = PyDict::new(py);
            dict.set_item("samples", report.samples)?;
            dict.set_item("instances", report.instances)?;
            Ok(dict)
        }
        Err(LawCheckError::Violated {
            violation,
            shrink_steps,
        }) => {
            let show = |r: &Result<Plan, _>| match r {
                Ok(p) => p.to_string(),
                Err(e) => format!("error: {e}"),
            };
            let s = &violation.sample;
            let attrs = [
                (
                    "law",
                    violation.law.name().into_pyobject(py)?.into_any().unbind(),
                ),
                ("f", s.f.to_string().into_pyobject(py)?.into_any().unbind()),
                ("g", s.g.to_string().into_pyobject(py)?.into_any().unbind()),
                ("h", s.h.to_string().into_pyobject(py)?.into_any().unbind()),
                (
                    "slots",
                    PyTuple::new(py, &violation.slots)?.into_any().unbind(),
                ),
                (
                    "left",
                    show(&violation.left).into_pyobject(py)?.into_any().unbind(),
                ),
                (
                    "right",
                    show(&violation.right)
                        .into_pyobject(py)?
                        .into_any()
                        .unbind(),
                ),
                (
                    "shrink_steps",
                    shrink_steps.into_pyobject(py)?.into_any().unbind(),
                ),
            ];
            Err(with_attrs::<OperadLawError>(
                py,
                violation.to_string(),
                &attrs,
            ))
        }
        Err(_) => Err(OperadLawError::new_err("operad law check failed")),
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_operad_laws, m)?)
}
