//! "Why did this miss?": the key's components, the entries under the key and which guard fails
//! for given shapes, or the nearest stored key of the same graph and what differs.
use kiln_cache::CacheKey;
use kiln_shape::{Bindings, Policy, bind_symbols};

use crate::error::KilnError;
use crate::function::CompiledFunction;
use crate::key::{self, KeyComponent};
use crate::options::DynamicPolicy;

/// One entry under the key and whether its guards hold for the shapes asked about.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryExplanation {
    pub guards: String,
    pub holds: bool,
    /// The first failing guard with both sides' values (`H == 8: H is 9`).
    pub failure: Option<String>,
    pub compile_ms: f64,
}

/// The closest stored key for a graph of the same name, and the components that differ.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NearestKey {
    pub key: String,
    /// `(component, ours, stored)`.
    pub differing: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    pub key: String,
    pub components: Vec<KeyComponent>,
    pub bindings: Vec<(String, i64)>,
    pub key_exists: bool,
    pub entries: Vec<EntryExplanation>,
    pub nearest: Option<NearestKey>,
    /// What a compile with these shapes would do: "hit", "guard_miss" or "miss".
    pub verdict: String,
}

impl CompiledFunction {
    /// Explains what the cache would do for inputs of these shapes, without compiling.
    pub fn explain(
        &self,
        cache: &kiln_cache::Cache,
        shapes: &[Vec<i64>],
        dynamic: DynamicPolicy,
    ) -> Result<Explanation, KilnError> {
        let policy = match dynamic {
            DynamicPolicy::Static => Policy::Static,
            _ => Policy::Dynamic,
        };
        let values: Bindings =
            bind_symbols(&self.graph().input_dims(), shapes).map_err(kiln_ir::IrError::from)?;
        let (env, _inputs, components, _target) = self.key_for(&values, &policy)?;
        let hints = env.hints();
        let cache_key = key::key_of(&components);
        let stored = cache.entries_for(&cache_key);
        let entries: Vec<EntryExplanation> = stored
            .iter()
            .map(|e| {
                let failure = e.guards.first_failure(&hints).map(|f| {
                    let side = |r: &Result<i64, kiln_shape::EvalError>| {
                        r.as_ref()
                            .map(|v| v.to_string())
                            .unwrap_or_else(|e| e.to_string())
                    };
                    format!(
                        "{} fails: left side is {}, right side is {}",
                        f.cond,
                        side(&f.lhs),
                        side(&f.rhs)
                    )
                });
                EntryExplanation {
                    guards: e.guards.to_string(),
                    holds: failure.is_none(),
                    failure,
                    compile_ms: e.meta.compile_ms,
                }
            })
            .collect();
        let verdict = if entries.iter().any(|e| e.holds) {
            "hit"
        } else if entries.is_empty() {
            "miss"
        } else {
            "guard_miss"
        };
        let nearest = if stored.is_empty() {
            nearest_key(cache, &self.graph().name, &cache_key, &components)
        } else {
            None
        };
        Ok(Explanation {
            key: cache_key.to_string(),
            components,
            bindings: values.0.into_iter().collect(),
            key_exists: !stored.is_empty(),
            entries,
            nearest,
            verdict: verdict.into(),
        })
    }
}

fn nearest_key(
    cache: &kiln_cache::Cache,
    graph_name: &str,
    ours: &CacheKey,
    components: &[KeyComponent],
) -> Option<NearestKey> {
    let mut best: Option<NearestKey> = None;
    for k in cache.keys().ok()? {
        if &k == ours {
            continue;
        }
        let Some(entry) = cache.entries_for(&k).into_iter().next() else {
            continue;
        };
        if entry.meta.graph_name != graph_name {
            continue;
        }
        let differing: Vec<(String, String, String)> = components
            .iter()
            .filter_map(|c| {
                let mine = format!("{} {}", &c.hash[..16], c.value);
                let theirs = entry
                    .meta
                    .key_components
                    .iter()
                    .find(|(n, _)| n == &c.name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "(absent)".into());
                (mine != theirs).then(|| (c.name.clone(), mine, theirs))
            })
            .collect();
        if best
            .as_ref()
            .is_none_or(|b| differing.len() < b.differing.len())
        {
            best = Some(NearestKey {
                key: k.to_string(),
                differing,
            });
        }
    }
    best
}
