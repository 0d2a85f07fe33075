//! ChatML, the chat template of both shipped models (and of Qwen/SmolLM in general):
//! `<|im_start|>role\ncontent<|im_end|>\n` per turn, then `<|im_start|>assistant\n`.
//!
//! Rendering a Jinja template in general is out of scope; the model's template is only read
//! for its default system prompt (the text used when the caller gives none), so that the
//! prompt equals what `apply_chat_template(..., add_generation_prompt=True)` produces.

/// A ChatML template with the model's default system prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatTemplate {
    pub default_system: Option<String>,
}

impl ChatTemplate {
    /// Extracts the default system prompt from a ChatML Jinja template: the literal after
    /// `<|im_start|>system\n` that is not the `messages[0]['content']` branch.
    pub fn from_jinja(template: Option<&str>) -> Self {
        // The newline is an escape (`\\n`) in some templates and a raw newline in others.
        let default_system = template.and_then(|t| {
            ["<|im_start|>system\\n", "<|im_start|>system\n"]
                .iter()
                .find_map(|marker| Self::literal_after(t, marker))
        });
        Self { default_system }
    }

    fn literal_after(t: &str, marker: &str) -> Option<String> {
        t.match_indices(marker).find_map(|(i, _)| {
            let rest = &t[i + marker.len()..];
            let end = rest.find("<|im_end|>")?;
            let text = &rest[..end];
            // The branch that inserts the user's system message ends the literal first.
            (!text.contains('\'') && !text.contains('"') && !text.is_empty())
                .then(|| text.to_string())
        })
    }

    /// System and user turns followed by the assistant header.
    pub fn render(&self, system: Option<&str>, user: &str) -> String {
        self.render_turns(system, &[], user)
    }

    /// A conversation: the system turn, completed (user, assistant) exchanges, then the last
    /// user turn and the assistant header (what `apply_chat_template` gives for those
    /// messages with `add_generation_prompt=True`).
    pub fn render_turns(
        &self,
        system: Option<&str>,
        exchanges: &[(String, String)],
        user: &str,
    ) -> String {
        let mut out = String::new();
        let mut turn = |role: &str, text: &str| {
            out.push_str("<|im_start|>");
            out.push_str(role);
            out.push('\n');
            out.push_str(text);
            out.push_str("<|im_end|>\n");
        };
        if let Some(s) = system.or(self.default_system.as_deref()) {
            turn("system", s);
        }
        for (u, a) in exchanges {
            turn("user", u);
            turn("assistant", a);
        }
        turn("user", user);
        out.push_str("<|im_start|>assistant\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_system_is_read_from_smollm_template() {
        let t = "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}";
        let c = ChatTemplate::from_jinja(Some(t));
        assert_eq!(
            c.default_system.as_deref(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
    }

    #[test]
    fn default_system_with_raw_newline() {
        let t = "{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}";
        let c = ChatTemplate::from_jinja(Some(t));
        assert_eq!(c.default_system.as_deref(), Some("Be brief."));
    }

    #[test]
    fn qwen_template_skips_the_user_system_branch() {
        let t = "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}";
        let c = ChatTemplate::from_jinja(Some(t));
        assert_eq!(
            c.default_system.as_deref(),
            Some("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
        );
        assert_eq!(
            c.render(Some("S"), "P"),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nP<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn exchanges_come_between_system_and_last_user_turn() {
        let c = ChatTemplate::default();
        assert_eq!(
            c.render_turns(Some("S"), &[("U1".into(), "A1".into())], "U2"),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n\
             <|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n\
             <|im_start|>assistant\n"
        );
        assert_eq!(c.render_turns(None, &[], "U"), c.render(None, "U"));
    }
}
