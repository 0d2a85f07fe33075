//! A Hugging Face checkpoint folder (config.json + safetensors) loads into the same model as
//! the weights it was written from; corrupt files and shape mismatches are named errors.

mod tiny;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::weights::AttnWeight;
use icor_llm::{Adaptation, Llm, LlmConfig, SafetensorsSource, WeightKey, WeightSource};
use safetensors::tensor::TensorView;
use tiny::{RandomSource, max_abs_diff, tiny_config};

fn keys(c: &LlmConfig) -> Vec<WeightKey> {
    let mut k = vec![WeightKey::Embed, WeightKey::FinalNorm, WeightKey::Output];
    for l in 0..c.n_layers {
        k.push(WeightKey::AttnNorm(l));
        for w in [AttnWeight::Q, AttnWeight::K, AttnWeight::V, AttnWeight::O] {
            k.push(WeightKey::Attn(l, w));
        }
        for w in [AttnWeight::Q, AttnWeight::K, AttnWeight::V] {
            k.push(WeightKey::AttnBias(l, w));
        }
        k.extend([
            WeightKey::FfnNorm(l),
            WeightKey::Gate(l),
            WeightKey::Up(l),
            WeightKey::Down(l),
        ]);
    }
    k
}

fn write_folder(src: &RandomSource, name: &str, edit: impl Fn(&str, &mut Vec<usize>)) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icor-st-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = &src.config;
    let config = serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"],
        "vocab_size": c.vocab_size, "hidden_size": c.d_model, "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads,
        "intermediate_size": c.d_ff, "rope_theta": c.rope_theta, "rms_norm_eps": c.rms_eps,
        "tie_word_embeddings": false, "max_position_embeddings": c.max_positions,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let tensors: Vec<(String, Vec<u8>, Vec<usize>)> = keys(c)
        .into_iter()
        .map(|k| {
            let t = src.read(k).unwrap();
            let mut shape = t.shape.clone();
            edit(&t.name, &mut shape);
            let n: usize = shape.iter().product();
            let bytes: Vec<u8> = t.data[..n.min(t.data.len())]
                .iter()
                .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
                .collect();
            (t.name, bytes, shape)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                TensorView::new(safetensors::Dtype::BF16, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
    dir
}

fn load(dir: &Path) -> icor_llm::Result<Llm> {
    let c = LlmConfig::from_hf_json(&dir.join("config.json"))?;
    let s = SafetensorsSource::open(dir)?;
    Llm::load(&s, c, &Device::flex())
}

#[test]
fn bf16_safetensors_folder_loads_the_same_model() {
    let mut cfg = tiny_config(4, 2);
    cfg.qkv_bias = true;
    cfg.arch = icor_llm::Arch::Qwen2;
    let src = RandomSource::new(cfg, 40);
    let dir = write_folder(&src, "ok", |_, _| {});
    let m = load(&dir).unwrap();
    assert_eq!(m.config.arch, icor_llm::Arch::Qwen2);
    assert!(m.config.qkv_bias);
    // Reference: the same weights rounded to bf16, loaded directly.
    struct Bf16<'a>(&'a RandomSource);
    impl WeightSource for Bf16<'_> {
        fn path(&self) -> &Path {
            self.0.path()
        }
        fn has(&self, k: WeightKey) -> bool {
            self.0.has(k)
        }
        fn read(&self, k: WeightKey) -> icor_llm::Result<icor_llm::HostTensor> {
            let mut t = self.0.read(k)?;
            t.data
                .iter_mut()
                .for_each(|x| *x = half::bf16::from_f32(*x).to_f32());
            Ok(t)
        }
    }
    let r = Llm::load(&Bf16(&src), m.config.clone(), &Device::flex()).unwrap();
    let ids = [1u32, 2, 3, 4];
    let a = to_vec_f32(m.forward_logits(&ids, &Adaptation::none()).unwrap());
    let b = to_vec_f32(r.forward_logits(&ids, &Adaptation::none()).unwrap());
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shape_mismatch_and_corruption_are_named() {
    let src = RandomSource::new(tiny_config(4, 2), 41);
    let dir = write_folder(&src, "shape", |name, shape| {
        if name == "model.layers.1.mlp.up_proj.weight" {
            shape[0] -= 1;
        }
    });
    let e = load(&dir).unwrap_err().to_string();
    assert!(
        e.contains("model.layers.1.mlp.up_proj.weight") && e.contains("[23, 16]"),
        "{e}"
    );
    // Truncate the safetensors file.
    let f = dir.join("model.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let e = load(&dir).unwrap_err().to_string();
    assert!(e.contains("model.safetensors"), "{e}");
    // Unknown architecture in config.json.
    std::fs::write(dir.join("config.json"), r#"{"architectures":["MambaForCausalLM"],"vocab_size":1,"hidden_size":1,"num_hidden_layers":1,"num_attention_heads":1,"intermediate_size":1}"#).unwrap();
    let e = load(&dir).unwrap_err().to_string();
    assert!(
        e.contains("MambaForCausalLM") && e.contains("config.json"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
