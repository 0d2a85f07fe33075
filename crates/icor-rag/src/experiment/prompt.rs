//! The prompts every method shares (FlashRAG's standard-RAG and no-retrieval templates, the
//! format users of that toolkit know), and the tokenised instances the losses read.
//!
//! FlashRAG's `PromptTemplate` (flashrag/prompt/base_prompt.py) concatenates its system
//! sentences without a space; that is kept, so prompts match the toolkit token for token.

use icor_llm::LlmTokenizer;
use icor_qa::data::Passage;

use crate::error::Result;

/// FlashRAG's standard-RAG system prompt; the documents follow it.
pub const RAG_SYSTEM: &str = "Answer the question based on the given document.\
Only give me the answer and do not output any other words.\
\nThe following are given documents.\n\n";

/// FlashRAG's system prompt without retrieval (Query only).
pub const QUERY_ONLY_SYSTEM: &str = "Answer the question based on your own knowledge. \
Only give me the answer and do not output any other words.";

/// A question with its retrieved documents and golden answers.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub question: String,
    pub answers: Vec<String>,
    /// Top-k passages, best first.
    pub docs: Vec<Passage>,
}

/// Prompt text and token ids for the shared templates.
pub struct Prompter<'a> {
    pub tokenizer: &'a LlmTokenizer,
    /// Tokens kept of each document's text (0: all).
    pub doc_tokens: usize,
}

/// Token ids of a prompt and of the answer that follows it (its tokens then the turn's end
/// token): the teacher-forced sequence is `prompt ++ answer`, the loss reads `answer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub prompt: Vec<u32>,
    pub answer: Vec<u32>,
}

impl Instance {
    /// `prompt ++ answer`.
    pub fn sequence(&self) -> Vec<u32> {
        let mut s = self.prompt.clone();
        s.extend_from_slice(&self.answer);
        s
    }
}

impl Prompter<'_> {
    /// A document's text cut to the token budget (whole words kept by decoding the kept ids).
    pub fn doc_text(&self, text: &str) -> Result<String> {
        if self.doc_tokens == 0 {
            return Ok(text.to_string());
        }
        let ids = self.raw_ids(text)?;
        if ids.len() <= self.doc_tokens {
            return Ok(text.to_string());
        }
        Ok(self.tokenizer.decode(&ids[..self.doc_tokens], true)?)
    }

    /// Each document as the prompt shows it: its title and its text cut to the token budget
    /// (what a recall rule should read to say whether the model can see an answer).
    pub fn shown_docs(&self, docs: &[Passage]) -> Result<Vec<String>> {
        docs.iter()
            .map(|d| Ok(format!("{}\n{}", d.title(), self.doc_text(d.text())?)))
            .collect()
    }

    /// FlashRAG's reference block: `Doc i(Title: t) text` lines.
    pub fn references(&self, docs: &[Passage]) -> Result<String> {
        let mut out = String::new();
        for (i, d) in docs.iter().enumerate() {
            out.push_str(&format!(
                "Doc {}(Title: {}) {}\n",
                i + 1,
                d.title(),
                self.doc_text(d.text())?
            ));
        }
        Ok(out)
    }

    /// The chat-formatted standard-RAG prompt of `item`.
    pub fn rag_text(&self, item: &Item) -> Result<String> {
        let system = format!("{RAG_SYSTEM}{}", self.references(&item.docs)?);
        Ok(self
            .tokenizer
            .chat_prompt(Some(&system), &format!("Question: {}", item.question)))
    }

    /// The standard-RAG prompt with `demos` as completed exchanges before the question
    /// (the few-shot baselines, §4.5): the system turn is the query's own (instruction and
    /// the query's documents), and each demonstration is a user turn in the query's format —
    /// its documents under the same heading, then its question — answered by its first
    /// golden answer. Without demonstrations this is [`Self::rag_text`].
    pub fn few_shot_text(&self, item: &Item, demos: &[&Item]) -> Result<String> {
        let system = format!("{RAG_SYSTEM}{}", self.references(&item.docs)?);
        let exchanges = demos
            .iter()
            .map(|d| {
                let user = format!(
                    "The following are given documents.\n\n{}\nQuestion: {}",
                    self.references(&d.docs)?,
                    d.question
                );
                let answer = d.answers.first().cloned().unwrap_or_default();
                Ok((user, answer))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.tokenizer.chat_prompt_turns(
            Some(&system),
            &exchanges,
            &format!("Question: {}", item.question),
        ))
    }

    /// Token ids of the few-shot prompt.
    pub fn few_shot_ids(&self, item: &Item, demos: &[&Item]) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(&self.few_shot_text(item, demos)?)?)
    }

    /// The chat-formatted no-retrieval prompt.
    pub fn query_only_text(&self, question: &str) -> String {
        self.tokenizer
            .chat_prompt(Some(QUERY_ONLY_SYSTEM), &format!("Question: {question}"))
    }

    /// Token ids of the standard-RAG prompt.
    pub fn rag_ids(&self, item: &Item) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(&self.rag_text(item)?)?)
    }

    /// Token ids of the no-retrieval prompt.
    pub fn query_only_ids(&self, question: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(&self.query_only_text(question))?)
    }

    /// The supervised RAG instance of `item` (x, D_x, y) with `y` its first golden answer:
    /// the RAG prompt, then the answer and the end-of-turn token.
    pub fn rag_instance(&self, item: &Item) -> Result<Instance> {
        let prompt = self.rag_ids(item)?;
        let gold = item.answers.first().map(String::as_str).unwrap_or("");
        let mut answer = self.raw_ids(gold)?;
        answer.extend(self.end_of_turn());
        Ok(Instance { prompt, answer })
    }

    /// The id that ends an assistant turn (`<|im_end|>`, else EOS).
    pub fn end_of_turn(&self) -> Option<u32> {
        self.tokenizer
            .token_to_id("<|im_end|>")
            .or(self.tokenizer.eos_id)
    }

    /// Ids of plain text, no BOS.
    fn raw_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc =
            self.tokenizer
                .inner()
                .encode(text, false)
                .map_err(|e| icor_llm::Error::Tokenizer {
                    source_name: "prompt".into(),
                    reason: e.to_string(),
                })?;
        Ok(enc.get_ids().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-level tokenizer (the prompts only need the chat template and, with no token
    /// budget, never tokenise documents).
    fn tokenizer(dir: &std::path::Path) -> LlmTokenizer {
        let json = serde_json::json!({
            "version": "1.0",
            "added_tokens": [],
            "normalizer": null,
            "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": null,
            "decoder": null,
            "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}
        });
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, json.to_string()).unwrap();
        LlmTokenizer::from_json(&path).unwrap()
    }

    /// With a token budget the recall rule that reads the shown documents misses an answer
    /// beyond the cut that the whole passage holds; without one both find it.
    #[test]
    fn shown_documents_are_cut_where_the_prompt_cuts_them() {
        use icor_qa::metrics::{AnswerPattern, HitRule, recall_hit};

        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::json!({
            "version": "1.0",
            "added_tokens": [],
            "normalizer": null,
            "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": null,
            "decoder": null,
            "model": {"type": "WordLevel", "vocab": {
                "[UNK]": 0, "the": 1, "capital": 2, "of": 3, "france": 4, "is": 5, "paris": 6
            }, "unk_token": "[UNK]"}
        });
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, json.to_string()).unwrap();
        let tok = LlmTokenizer::from_json(&path).unwrap();
        let doc = "the capital of france is paris";
        let docs = vec![Passage::from_title_text("0".into(), "France", doc)];
        let gold = AnswerPattern::texts(&["Paris"]);
        let hit = |doc_tokens: usize| {
            let p = Prompter {
                tokenizer: &tok,
                doc_tokens,
            };
            let shown = p.shown_docs(&docs).unwrap();
            assert!(shown[0].starts_with("France\n"), "{shown:?}");
            let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
            recall_hit(&shown, &gold, 1, HitRule::FlashRag)
        };
        assert!(recall_hit(&[doc], &gold, 1, HitRule::FlashRag));
        assert!(!hit(4), "the first 4 tokens do not reach `paris`");
        assert!(hit(6) && hit(0));
    }

    fn item(q: &str, a: &str, doc: &str) -> Item {
        Item {
            id: q.into(),
            question: q.into(),
            answers: vec![a.into(), "second-gold".into()],
            docs: vec![Passage::from_title_text(
                "0".into(),
                &format!("T {doc}"),
                doc,
            )],
        }
    }

    #[test]
    fn few_shot_prompt_puts_each_demonstration_in_its_own_answered_turn() {
        let dir = tempfile::tempdir().unwrap();
        let tok = tokenizer(dir.path());
        let p = Prompter {
            tokenizer: &tok,
            doc_tokens: 0,
        };
        let query = item("who wrote X?", "nobody", "query-doc");
        assert_eq!(
            p.few_shot_text(&query, &[]).unwrap(),
            p.rag_text(&query).unwrap()
        );
        let d1 = item("first demo question", "ans-one", "demo-doc-one");
        let d2 = item("second demo question", "ans-two", "demo-doc-two");
        let text = p.few_shot_text(&query, &[&d1, &d2]).unwrap();
        // System turn: the instruction and the query's documents only.
        let system_end = text.find("<|im_end|>").unwrap();
        assert!(text[..system_end].contains("query-doc"));
        assert!(!text[..system_end].contains("demo-doc"));
        // Then demo 1 (documents, question; answered by the first gold), demo 2, the query.
        let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("`{s}` missing"));
        assert!(at("demo-doc-one") < at("Question: first demo question"));
        assert!(
            at("Question: first demo question") < at("<|im_start|>assistant\nans-one<|im_end|>")
        );
        assert!(at("ans-one") < at("demo-doc-two"));
        assert!(at("<|im_start|>assistant\nans-two<|im_end|>") < at("Question: who wrote X?"));
        assert!(
            !text.contains("second-gold"),
            "only the first golden answer is shown"
        );
        assert!(text.ends_with("Question: who wrote X?<|im_end|>\n<|im_start|>assistant\n"));
    }
}
