//! The prompts of the study, built from token blocks so that the in-context prompt and the
//! gradient step read the very same tokens.
//!
//! A *block* is one completed exchange in ChatML: the user turn with the question's documents
//! (FlashRAG's reference block) and question, the assistant header, the answer and the
//! end-of-turn token, then the newline that closes the turn. With `P` the system turn (the
//! FlashRAG instruction), `Dᵢ` the demonstration blocks and `Q` the query's user turn:
//!
//! - in context: `P D₁ … D_N Q a`, the answer `a` teacher-forced;
//! - query alone: `P Q a`, the prompt the updated interface reads;
//! - the gradient step's example `i`: `P Dᵢ`, its loss on the answer tokens of `Dᵢ`.
//!
//! Every segment is tokenised on its own and the ids concatenated; each segment starts at a
//! special token (`<|im_start|>`) or is a lone newline, so the joint tokenisation agrees
//! (checked on the real tokenizers in `tests/mechanism_prompt.rs`).

use icor_llm::LlmTokenizer;

use crate::error::Result;
use crate::experiment::prompt::{Instance, Item, Prompter};

/// FlashRAG's instruction (its standard-RAG system sentences before the documents).
pub const INSTRUCTION: &str = "Answer the question based on the given document.\
Only give me the answer and do not output any other words.";

/// One exchange as token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `<|im_start|>user\n… Question: q<|im_end|>\n<|im_start|>assistant\n`.
    pub user: Vec<u32>,
    /// The answer's ids, then the end-of-turn id.
    pub answer: Vec<u32>,
    /// The newline after the end-of-turn token.
    pub close: Vec<u32>,
}

impl Block {
    /// `user ++ answer ++ close`: the block as it sits in a prompt.
    pub fn ids(&self) -> Vec<u32> {
        [&self.user[..], &self.answer, &self.close].concat()
    }
}

/// A teacher-forced sequence and where its answer starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teacher {
    /// `… Q a`.
    pub ids: Vec<u32>,
    /// The position whose next token is the answer's first (the last prompt token).
    pub first: usize,
    /// Answer tokens (the end-of-turn token included).
    pub answer_len: usize,
}

/// The token blocks of one context.
#[derive(Debug, Clone)]
pub struct Segments {
    /// The system turn (with BOS where the model asks for one).
    pub prefix: Vec<u32>,
    pub demos: Vec<Block>,
    /// The query's exchange, its gold answer as the answer.
    pub query: Block,
}

/// Builds blocks with the study's document budget.
pub struct BlockBuilder<'a> {
    pub prompter: Prompter<'a>,
}

impl<'a> BlockBuilder<'a> {
    pub fn new(tokenizer: &'a LlmTokenizer, doc_tokens: usize) -> Self {
        Self {
            prompter: Prompter {
                tokenizer,
                doc_tokens,
            },
        }
    }

    fn tok(&self) -> &LlmTokenizer {
        self.prompter.tokenizer
    }

    fn raw(&self, text: &str) -> Result<Vec<u32>> {
        let enc =
            self.tok()
                .inner()
                .encode(text, false)
                .map_err(|e| icor_llm::Error::Tokenizer {
                    source_name: "mechanism prompt".into(),
                    reason: e.to_string(),
                })?;
        Ok(enc.get_ids().to_vec())
    }

    /// The system turn.
    pub fn prefix(&self) -> Result<Vec<u32>> {
        Ok(self
            .tok()
            .encode(&format!("<|im_start|>system\n{INSTRUCTION}<|im_end|>\n"))?)
    }

    /// The user turn's text of `item` (documents, then the question).
    pub fn user_text(&self, item: &Item) -> Result<String> {
        Ok(format!(
            "The following are given documents.\n\n{}\nQuestion: {}",
            self.prompter.references(&item.docs)?,
            item.question
        ))
    }

    /// The exchange of `item` answered by `answer`.
    pub fn block(&self, item: &Item, answer: &str) -> Result<Block> {
        let user = self.raw(&format!(
            "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
            self.user_text(item)?
        ))?;
        let mut ans = self.raw(answer)?;
        ans.extend(self.prompter.end_of_turn());
        Ok(Block {
            user,
            answer: ans,
            close: self.raw("\n")?,
        })
    }

    /// The segments of a context: demonstrations answered by `demo_answers[i]`.
    pub fn segments(
        &self,
        query: &Item,
        query_answer: &str,
        demos: &[Item],
        demo_answers: &[&str],
    ) -> Result<Segments> {
        Ok(Segments {
            prefix: self.prefix()?,
            demos: demos
                .iter()
                .zip(demo_answers)
                .map(|(d, a)| self.block(d, a))
                .collect::<Result<_>>()?,
            query: self.block(query, query_answer)?,
        })
    }

    /// The same conversation as text, as the chat template renders it (for the check that
    /// block-wise and joint tokenisation agree).
    pub fn text(&self, query: &Item, demos: &[Item], demo_answers: &[&str]) -> Result<String> {
        let exchanges = demos
            .iter()
            .zip(demo_answers)
            .map(|(d, a)| Ok((self.user_text(d)?, a.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(self
            .tok()
            .chat_prompt_turns(Some(INSTRUCTION), &exchanges, &self.user_text(query)?))
    }
}

impl Segments {
    /// `P D_{order[0]} … D_{order[N−1]} Q a`.
    pub fn in_context(&self, order: &[usize]) -> Teacher {
        let mut ids = self.prefix.clone();
        for &i in order {
            ids.extend(self.demos[i].ids());
        }
        self.finish(ids)
    }

    /// `P D'_1 … D'_N Q a` with another context's demonstration blocks.
    pub fn in_context_with(&self, demos: &[Block]) -> Teacher {
        let mut ids = self.prefix.clone();
        for d in demos {
            ids.extend(d.ids());
        }
        self.finish(ids)
    }

    /// `P Q a`.
    pub fn query_alone(&self) -> Teacher {
        self.finish(self.prefix.clone())
    }

    fn finish(&self, mut ids: Vec<u32>) -> Teacher {
        ids.extend_from_slice(&self.query.user);
        let first = ids.len() - 1;
        ids.extend_from_slice(&self.query.answer);
        Teacher {
            ids,
            first,
            answer_len: self.query.answer.len(),
        }
    }

    /// The gradient step's examples: `P Dᵢ` with the loss on `Dᵢ`'s answer.
    pub fn gd_examples(&self) -> Vec<Instance> {
        examples(&self.prefix, &self.demos)
    }
}

/// `P Dᵢ` for each block.
pub fn examples(prefix: &[u32], blocks: &[Block]) -> Vec<Instance> {
    blocks
        .iter()
        .map(|b| Instance {
            prompt: [prefix, &b.user[..]].concat(),
            answer: b.answer.clone(),
        })
        .collect()
}

/// A derangement of the demonstrations' answers (`i` takes the answer of `i + 1`): the
/// shuffled-answers control. One demonstration keeps its own answer.
pub fn shifted_answers<'s>(answers: &[&'s str]) -> Vec<&'s str> {
    let n = answers.len();
    (0..n).map(|i| answers[(i + 1) % n]).collect()
}
