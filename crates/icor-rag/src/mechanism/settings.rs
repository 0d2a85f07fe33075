//! What one mechanism study measures: the model, the contexts, the interfaces and the step
//! sizes. Settings are data: the defaults below are a starting point, every field can be
//! overridden on the command line, and the stamp of every per-context artefact is the hash of
//! these settings (the number of contexts aside, so a study can be extended).

use serde::{Deserialize, Serialize};

use super::record::Point;
use crate::error::{Error, Result};

/// One interface: the dense ΔW of Q/K/V on the top L layers (0 = every layer), stepped
/// with each η of its grid (one η for all contexts: the analysis fits it on the fit split
/// among these, and by least squares). The top layers move the output far less per unit η,
/// so each interface has its own grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceSpec {
    pub top_layers: usize,
    pub etas: Vec<f64>,
}

impl InterfaceSpec {
    /// `all` or `top<L>`.
    pub fn name(&self) -> String {
        Settings::interface_name(self.top_layers)
    }

    /// Every (η, k) the study reads: each η of the grid after each of the K steps.
    pub fn points(&self, steps: usize) -> Vec<Point> {
        self.etas
            .iter()
            .flat_map(|&eta| (1..=steps).map(move |k| Point { eta, k }))
            .collect()
    }
}

impl std::str::FromStr for InterfaceSpec {
    type Err = String;

    /// `all=1e-4,1e-3` or `top2=0.1,1` (or `2=…`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (name, etas) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected <all|topL>=η,η,…"))?;
        let top_layers = match name.trim() {
            "all" => 0,
            n => n
                .trim_start_matches("top")
                .parse()
                .map_err(|_| format!("`{name}`: expected `all` or `top<L>`"))?,
        };
        let etas = etas
            .split(',')
            .map(|e| {
                e.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("`{e}` is not a step size"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self { top_layers, etas })
    }
}

/// The settings of one study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Backbone, by catalogue name or path (`smollm2-135m`, `qwen2.5-0.5b`).
    pub model: String,
    /// The fixed retriever (`bm25` or `dense`).
    pub retriever: String,
    /// Where the queries come from (`name/split`).
    pub query_set: String,
    /// Where the demonstrations come from (`name/split`), drawn without replacement, so no
    /// two contexts share a demonstration.
    pub demo_pool: String,
    /// M, the number of contexts (even: contexts `2j` and `2j + 1` are each other's
    /// "other context").
    pub contexts: usize,
    /// N, demonstrations per context.
    pub demos: usize,
    /// Retrieved documents per question (demonstrations and query alike).
    pub docs: usize,
    /// Tokens kept of each document (0: all).
    pub doc_tokens: usize,
    /// K, gradient steps per update; with K > 1 every step's update is read (K = 1…K).
    pub steps: usize,
    /// The interfaces and the step sizes each is stepped with.
    pub interfaces: Vec<InterfaceSpec>,
    /// Every `fit_every`-th context (index ≡ 0) fits η; the others are reported.
    pub fit_every: usize,
    pub seed: u64,
    /// The sha256 of `W_0^ret` (PEFT safetensors) when the study steps its LoRA factors:
    /// every interface is then the LoRA interface on its layers (`all` = every layer
    /// `W_0^ret` covers), and every read, in context or after a step, applies `W_0^ret`.
    /// Absent: the dense interface of the bare backbone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: "smollm2-135m".into(),
            retriever: "bm25".into(),
            query_set: "nq/test".into(),
            demo_pool: "nq/dev".into(),
            contexts: 100,
            demos: 3,
            docs: 2,
            doc_tokens: 24,
            steps: 1,
            interfaces: vec![
                InterfaceSpec {
                    top_layers: 0,
                    etas: vec![1e-4, 1e-3, 1e-2],
                },
                InterfaceSpec {
                    top_layers: 8,
                    etas: vec![1e-3, 1e-2, 1e-1],
                },
                InterfaceSpec {
                    top_layers: 2,
                    etas: vec![1e-2, 1e-1, 1.0],
                },
            ],
            fit_every: 4,
            seed: 0,
            adapter: None,
        }
    }
}

impl Settings {
    /// Refuses settings the study cannot run.
    pub fn check(&self) -> Result<()> {
        let bad = |s: String| Err(Error::Config(format!("mechanism: {s}")));
        if self.contexts < 4 || self.contexts % 2 != 0 {
            return bad(format!(
                "{} contexts: need an even number ≥ 4 (contexts 2j and 2j+1 pair up)",
                self.contexts
            ));
        }
        if self.demos == 0 {
            return bad("at least one demonstration per context".into());
        }
        for i in &self.interfaces {
            if i.etas.is_empty() || i.etas.iter().any(|e| !e.is_finite() || *e <= 0.0) {
                return bad(format!(
                    "interface {}: step sizes {:?} (need positive, finite values)",
                    i.name(),
                    i.etas
                ));
            }
        }
        if self.steps == 0 {
            return bad("K = 0 steps".into());
        }
        if self.interfaces.is_empty() {
            return bad("no interface".into());
        }
        if self.fit_every < 2 {
            return bad("fit_every must be ≥ 2 so some contexts are held out of the fit".into());
        }
        Ok(())
    }

    /// What determines one context's measurements (everything but the number of contexts).
    pub fn per_context_key(&self) -> Settings {
        Settings {
            contexts: 0,
            fit_every: 0,
            ..self.clone()
        }
    }

    /// Whether context `i` fits η.
    pub fn is_fit(&self, i: usize) -> bool {
        i % self.fit_every == 0
    }

    /// What the steps move: `dense` or `lora` (at `W_0^ret`).
    pub fn space_name(&self) -> &'static str {
        if self.adapter.is_some() {
            "lora"
        } else {
            "dense"
        }
    }

    /// An interface's name: `all` or `top<L>`.
    pub fn interface_name(top: usize) -> String {
        if top == 0 {
            "all".into()
        } else {
            format!("top{top}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_parse_and_bad_settings_are_refused() {
        let i: InterfaceSpec = "top2=0.1,1".parse().unwrap();
        assert_eq!(
            i,
            InterfaceSpec {
                top_layers: 2,
                etas: vec![0.1, 1.0]
            }
        );
        assert_eq!("all=1e-3".parse::<InterfaceSpec>().unwrap().top_layers, 0);
        assert!("top2".parse::<InterfaceSpec>().is_err());
        assert!("topx=1".parse::<InterfaceSpec>().is_err());
        assert!("all=a".parse::<InterfaceSpec>().is_err());
        assert!(Settings::default().check().is_ok());
        for bad in [
            Settings {
                contexts: 5,
                ..Settings::default()
            },
            Settings {
                demos: 0,
                ..Settings::default()
            },
            Settings {
                fit_every: 1,
                ..Settings::default()
            },
            Settings {
                interfaces: vec![InterfaceSpec {
                    top_layers: 0,
                    etas: vec![-1.0],
                }],
                ..Settings::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?} accepted");
        }
        // The per-context stamp does not depend on M.
        let more = Settings {
            contexts: 200,
            ..Settings::default()
        };
        assert_eq!(
            more.per_context_key(),
            Settings::default().per_context_key()
        );
    }
}
